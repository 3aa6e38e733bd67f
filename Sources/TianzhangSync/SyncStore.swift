import TianzhangDomain

/// Where a logged change stands on its way to the county.
public enum Delivery: String, Hashable, Sendable, Codable {
    /// Waiting to be pushed to this replica's upstream.
    case pending
    /// The next hop (a township node) has it; the county has not confirmed it yet.
    case forwarded
    /// The county hub holds it (confirmed by a push result from the hub, or by a receipt).
    case atCounty = "at_county"
    /// Came down from upstream: nothing to send.
    case received
    /// Refused by a receiver; `rejection` says why. Kept to be amended; never folded into state.
    case rejected
}

/// One entry of a replica's change log.
public struct LogEntry: Hashable, Sendable, Codable {
    /// This replica's log sequence (its pull cursor space).
    public var seq: UInt64
    public var change: Change
    public var delivery: Delivery
    public var rejection: Rejection?
    /// The change that amended this rejected one, if any.
    public var amendedBy: ChangeID?

    public init(seq: UInt64, change: Change, delivery: Delivery, rejection: Rejection? = nil, amendedBy: ChangeID? = nil) {
        self.seq = seq
        self.change = change
        self.delivery = delivery
        self.rejection = rejection
        self.amendedBy = amendedBy
    }
}

extension LogEntry {
    /// The upstream answered `conflicting_change_id`: it holds another change under this id (this store
    /// was restored and reused the seq). A receipt for the id speaks of that other change, not this one.
    public var reusedSeq: Bool { rejection?.code == .conflictingChangeID }
}

/// A replica's own persistent facts.
public struct ReplicaMeta: Hashable, Sendable, Codable {
    public var replica: ReplicaID
    public var jurisdiction: Jurisdiction
    public var clock: HLCClock
    /// The last sequence number this replica gave one of its own changes.
    public var originSeq: UInt64
    /// The Ed25519 seed (hex) this replica signs its changes with (SPEC §2.7): derived from its
    /// credential at a node or device, random at the hub. Absent in stores made before signatures.
    public var signingSeed: String?
    /// The county's time minus this replica's wall clock (ms), learned at its last successful `hello`
    /// (SPEC §7.1). `nil`: never learned (and at the hub, whose time is the county's).
    public var clockOffset: Int64?
    /// The county's time when `clockOffset` was learned (ms).
    public var clockOffsetLearnedAt: Int64?
    /// This store's incarnation: random, made with the store, replaced when an operator restores the
    /// store from a backup (SPEC §7.2). `nil` in stores made before incarnations (one is added on use).
    public var incarnation: String?
    /// Set when a caller's `hello` moved this replica's own seqs past changes its store lacks (rule 4 of
    /// SPEC §7.2: this store was restored): its upstream may hold them, so its next `hello` pulls its own
    /// changes back (as rule 2 does), then clears it.
    public var ownChangesLost: Bool?

    public init(replica: ReplicaID, jurisdiction: Jurisdiction, clock: HLCClock = HLCClock(), originSeq: UInt64 = 0,
                clockOffset: Int64? = nil, incarnation: String? = nil, signingSeed: String? = nil) {
        self.replica = replica
        self.jurisdiction = jurisdiction
        self.clock = clock
        self.originSeq = originSeq
        self.signingSeed = signingSeed
        self.clockOffset = clockOffset
        self.incarnation = incarnation
    }

    /// The county's time at this replica's wall-clock time `physical`: corrected by the learned offset.
    public func countyTime(_ physical: Int64) -> Int64 { physical + (clockOffset ?? 0) }
}

/// The primitive reads and writes of one store transaction. The engine composes them; a store runs
/// the whole composition in one transaction, so a crash at any point loses nothing and applies
/// nothing twice. Implementations: `InMemorySyncStore` (the reference model), SQLite, PostgreSQL.
public protocol SyncTransaction {
    func meta() throws -> ReplicaMeta?
    func saveMeta(_ meta: ReplicaMeta) throws

    func recordState(_ key: RecordKey) throws -> RecordState?
    /// Saves the merged state and its materialized row.
    func saveRecordState(_ state: RecordState) throws
    /// Removes a record whose every change was rejected.
    func deleteRecordState(_ key: RecordKey) throws
    /// Every record state whose scope lies in `jurisdiction`, in key order.
    func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState]
    /// The same states one at a time, in no particular order, without holding them all in memory (a
    /// township of 100,000 parcels is ~600 MB of decoded states).
    func forEachRecordState(in jurisdiction: Jurisdiction, _ body: (RecordState) throws -> Void) throws

    func logEntry(_ id: ChangeID) throws -> LogEntry?
    /// Appends a change; returns its new log sequence.
    func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64
    func updateLog(_ entry: LogEntry) throws
    /// The logged changes of one record that are not rejected.
    func foldableChanges(of key: RecordKey) throws -> [Change]
    /// Entries after `after` whose change scope lies in `jurisdiction` and whose origin is not
    /// `excluding`, at most `limit`; also returns how far the scan went (the next cursor).
    func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool)
    /// Entries waiting to go upstream, in log order.
    /// About how many log entries after `after` lie in `jurisdiction` and are not `excluding`'s (a progress
    /// hint for pulls); `nil` when the store cannot tell cheaply.
    func logCount(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?) throws -> Int?
    func pendingEntries(limit: Int) throws -> [LogEntry]
    /// Entries with the given delivery, in log order.
    func entries(delivery: Delivery) throws -> [LogEntry]

    /// What this replica answered, as a receiver, for a change it refused (so a retry gets the same answer).
    func receivedRejection(_ id: ChangeID) throws -> Rejection?
    func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws

    func checkpoint(peer: String) throws -> UInt64
    func saveCheckpoint(peer: String, cursor: UInt64) throws

    /// A hint that the records and changes of a batch are about to be read: a store whose every
    /// statement is a network round trip (PostgreSQL) reads them in a few statements instead of a few
    /// per change. Reads must give the same answers with or without it.
    func prefetch(records: [RecordKey], changes: [ChangeID]) throws
    /// The end of a batch begun by `prefetch`: a store that kept the batch's writes in memory writes
    /// them now (it must also do so before it commits).
    func finishBatch() throws

    /// The highest `seq` of `origin` this replica holds, logged or refused as a receiver (0: none);
    /// `nil` when the store cannot tell (SPEC §7.2).
    func highestSeq(of origin: ReplicaID) throws -> UInt64?
    /// The highest log sequence this replica has handed out (0: none); `nil` when it cannot tell.
    func logHead() throws -> UInt64?
    /// Removes one of this replica's own log entries that never reached anyone (a change whose id the
    /// upstream holds for another change, SPEC §7.2). `false`: this store cannot remove entries.
    func removeLogEntry(_ id: ChangeID) throws -> Bool
}

/// A store that runs closures in transactions.
public protocol SyncStore: Sendable {
    /// Runs `body` in one write transaction: all of it is committed, or none.
    func write<T>(_ body: (any SyncTransaction) throws -> T) throws -> T
    /// Runs `body` on a consistent snapshot.
    func read<T>(_ body: (any SyncTransaction) throws -> T) throws -> T
}

extension SyncTransaction {
    /// Stores that cannot stream hand over the whole list.
    public func forEachRecordState(in jurisdiction: Jurisdiction, _ body: (RecordState) throws -> Void) throws {
        for state in try recordStates(in: jurisdiction) { try body(state) }
    }

    /// Stores whose reads are cheap ignore the hint.
    public func prefetch(records: [RecordKey], changes: [ChangeID]) throws {}
    public func finishBatch() throws {}

    /// Stores that cannot count cheaply give no estimate.
    public func logCount(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?) throws -> Int? { nil }
}

extension SyncTransaction {
    public func highestSeq(of origin: ReplicaID) throws -> UInt64? { nil }
    public func logHead() throws -> UInt64? { nil }
    public func removeLogEntry(_ id: ChangeID) throws -> Bool { false }
}
