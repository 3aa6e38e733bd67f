import Synchronization
import TianzhangDomain
import TianzhangSync

/// The reference model of a replica store: plain values in memory, with real transactions (a write
/// works on a copy and commits it whole, or not at all). The simulator runs on it; the SQLite and
/// PostgreSQL stores must behave exactly like it (the conformance suite checks).
public final class InMemorySyncStore: SyncStore, Sendable {
    /// Everything a replica has durably committed.
    public struct Contents: Sendable, Hashable {
        public internal(set) var meta: ReplicaMeta?
        public internal(set) var records: [RecordKey: RecordState] = [:]
        public internal(set) var log: [LogEntry] = []
        public internal(set) var logIndex: [ChangeID: Int] = [:]
        public internal(set) var receivedRejections: [ChangeID: Rejection] = [:]
        public internal(set) var checkpoints: [String: UInt64] = [:]
        /// The next log sequence number (seqs are never reused, also after an entry is removed).
        public internal(set) var nextSeq: UInt64 = 1
        /// Settings the replica keeps beside its sync state (its host's, e.g. the upstream last synced with).
        public internal(set) var settings: [String: String] = [:]

        /// The position of the first entry with a seq after `seq`.
        func index(after seq: UInt64) -> Int {
            var low = 0, high = log.count
            while low < high {
                let middle = (low + high) / 2
                if log[middle].seq <= seq { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    private let contents: Mutex<Contents>

    public init() { contents = Mutex(Contents()) }

    /// A store holding a copy of another's committed contents (a restart from disk).
    public init(copying other: InMemorySyncStore) { contents = Mutex(other.snapshot()) }

    public func snapshot() -> Contents { contents.withLock { $0 } }

    /// A setting kept beside the sync state (committed at once, like the SQLite store's).
    public func setting(_ key: String) -> String? { contents.withLock { $0.settings[key] } }
    public func setSetting(_ key: String, _ value: String) { contents.withLock { $0.settings[key] = value } }

    /// Removes what lies outside `jurisdiction` except the outbox, as `SQLiteReplicaStore.narrow` does
    /// (the conformance model of it): records outside are rebuilt from the kept changes alone, the
    /// replica takes the new jurisdiction, and the pull checkpoints are reset. One transaction.
    @discardableResult
    public func narrow(to jurisdiction: Jurisdiction?, engine: SyncEngine) throws -> ScopeNarrowing {
        try write { tx in
            let transaction = tx as! Transaction
            guard var meta = transaction.contents.meta else {
                throw ProtocolError(code: "not_initialized", message: "This store has no replica yet; run init first.")
            }
            func outside(_ scope: DivisionCode) -> Bool { jurisdiction.map { !$0.covers(scope) } ?? true }
            func keep(_ entry: LogEntry) -> Bool {
                entry.delivery == .pending || (entry.change.origin == meta.replica && (entry.delivery == .forwarded || entry.delivery == .rejected))
            }
            var result = ScopeNarrowing()
            var log = transaction.contents.log
            result.kept = log.filter { outside($0.change.scope) && keep($0) }.count
            var keys = Set(log.filter { outside($0.change.scope) && !keep($0) }.compactMap(\.change.key))
            keys.formUnion(transaction.contents.records.values.filter { outside($0.scope) }.map(\.key))
            let before = log.count
            log.removeAll { outside($0.change.scope) && !keep($0) }
            result.changes = before - log.count
            transaction.contents.log = log
            transaction.contents.logIndex = Dictionary(uniqueKeysWithValues: log.enumerated().map { ($0.element.change.id, $0.offset) })
            for key in keys.sorted() { try engine.rebuild(key, in: tx) }
            result.records = keys.count
            if let jurisdiction {
                meta.jurisdiction = jurisdiction
                try tx.saveMeta(meta)
            }
            transaction.contents.checkpoints = [:]
            return result
        }
    }

    public func write<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try contents.withLock { committed in
            let transaction = Transaction(committed)
            let result = try body(transaction)
            committed = transaction.contents
            return result
        }
    }

    public func read<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        let transaction = Transaction(snapshot())
        return try body(transaction)
    }

    final class Transaction: SyncTransaction {
        var contents: Contents

        init(_ contents: Contents) { self.contents = contents }

        func meta() throws -> ReplicaMeta? { contents.meta }
        func saveMeta(_ meta: ReplicaMeta) throws { contents.meta = meta }

        func recordState(_ key: RecordKey) throws -> RecordState? { contents.records[key] }
        func saveRecordState(_ state: RecordState) throws { contents.records[state.key] = state }
        func deleteRecordState(_ key: RecordKey) throws { contents.records[key] = nil }
        func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] {
            contents.records.values.filter { jurisdiction.covers($0.scope) }.sorted { $0.key < $1.key }
        }

        func highestSeq(of origin: ReplicaID) throws -> UInt64? {
            max(contents.log.filter { $0.change.origin == origin }.map(\.change.id.seq).max() ?? 0,
                contents.receivedRejections.keys.filter { $0.origin == origin }.map(\.seq).max() ?? 0)
        }

        func logHead() throws -> UInt64? { contents.log.last?.seq ?? 0 }

        func removeLogEntry(_ id: ChangeID) throws -> Bool {
            guard let index = contents.logIndex[id] else { return false }
            contents.log.remove(at: index)
            contents.logIndex = Dictionary(uniqueKeysWithValues: contents.log.enumerated().map { ($0.element.change.id, $0.offset) })
            return true
        }

        func setting(_ key: String) -> String? { contents.settings[key] }
        func setSetting(_ key: String, _ value: String) { contents.settings[key] = value }

        func logEntry(_ id: ChangeID) throws -> LogEntry? { contents.logIndex[id].map { contents.log[$0] } }

        func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 {
            precondition(contents.logIndex[change.id] == nil, "change \(change.id) logged twice")
            let seq = contents.nextSeq
            contents.nextSeq += 1
            contents.logIndex[change.id] = contents.log.count
            contents.log.append(LogEntry(seq: seq, change: change, delivery: delivery, rejection: rejection))
            return seq
        }

        func updateLog(_ entry: LogEntry) throws {
            guard let index = contents.logIndex[entry.change.id] else { return }
            contents.log[index] = entry
        }

        func foldableChanges(of key: RecordKey) throws -> [Change] {
            contents.log.filter { $0.delivery != .rejected && $0.change.key == key }.map(\.change)
        }

        func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool) {
            // The same contract as the SQL stores: up to `limit` matching entries after `after`; the cursor
            // is the last one returned when more match, else the end of the log.
            let matching = contents.log[contents.index(after: after)...]
                .lazy.filter { $0.change.origin != excluding && jurisdiction.covers($0.change.scope) }
            let page = Array(matching.prefix(limit + 1))
            if page.count > limit {
                return (Array(page.prefix(limit)), page[limit - 1].seq, true)
            }
            return (page, max(after, contents.log.last?.seq ?? 0), false)
        }

        func pendingEntries(limit: Int) throws -> [LogEntry] {
            Array(contents.log.lazy.filter { $0.delivery == .pending }.prefix(limit))
        }

        func entries(delivery: Delivery) throws -> [LogEntry] { contents.log.filter { $0.delivery == delivery } }

        func receivedRejection(_ id: ChangeID) throws -> Rejection? { contents.receivedRejections[id] }
        func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws { contents.receivedRejections[id] = rejection }

        func checkpoint(peer: String) throws -> UInt64 { contents.checkpoints[peer] ?? 0 }
        func saveCheckpoint(peer: String, cursor: UInt64) throws { contents.checkpoints[peer] = cursor }
    }
}
