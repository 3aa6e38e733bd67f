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
    }

    private let contents: Mutex<Contents>

    public init() { contents = Mutex(Contents()) }

    /// A store holding a copy of another's committed contents (a restart from disk).
    public init(copying other: InMemorySyncStore) { contents = Mutex(other.snapshot()) }

    public func snapshot() -> Contents { contents.withLock { $0 } }

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

        func logEntry(_ id: ChangeID) throws -> LogEntry? { contents.logIndex[id].map { contents.log[$0] } }

        func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 {
            precondition(contents.logIndex[change.id] == nil, "change \(change.id) logged twice")
            let seq = UInt64(contents.log.count + 1)
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
            let matching = contents.log.dropFirst(Int(min(after, UInt64(contents.log.count))))
                .lazy.filter { $0.change.origin != excluding && jurisdiction.covers($0.change.scope) }
            let page = Array(matching.prefix(limit + 1))
            if page.count > limit {
                return (Array(page.prefix(limit)), page[limit - 1].seq, true)
            }
            return (page, max(after, UInt64(contents.log.count)), false)
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
