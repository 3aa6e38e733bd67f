import TianzhangDomain
import TianzhangStore
import TianzhangSync

/// A hub, one township node and one patrol device on in-memory stores, with hand-driven sync.
public struct Trio {
    public let engine = SyncEngine()
    public let hub: any SyncStore, node: any SyncStore, patrol: any SyncStore
    public let hubID = try! ReplicaID("hub:371312"), nodeID = try! ReplicaID("node:371312001"), patrolID = try! ReplicaID("patrol:p1")
    public let county = Jurisdiction.county(try! DivisionCode("371312"))
    public let township = Jurisdiction.township(try! DivisionCode("371312001"))
    public let v201 = try! DivisionCode("371312001201"), v209 = try! DivisionCode("371312001209")
    /// The node still grants the patrol village 209, which the county has taken from it.
    public var nodeGrant: Jurisdiction { .villages([v201, v209]) }
    public var hubGrant: Jurisdiction { .villages([v201]) }
    public var now: Int64 = 1_763_884_800_000

    /// - Parameter makeStore: a fresh, empty store each call (in memory, SQLite, PostgreSQL).
    public init(makeStore: () throws -> any SyncStore = { InMemorySyncStore() }) throws {
        hub = try makeStore()
        node = try makeStore()
        patrol = try makeStore()
        _ = try hub.write { try engine.open(replica: hubID, jurisdiction: county, in: $0) }
        _ = try node.write { try engine.open(replica: nodeID, jurisdiction: township, in: $0) }
        _ = try patrol.write { try engine.open(replica: patrolID, jurisdiction: nodeGrant, in: $0) }
    }

    public func origins(_ id: ReplicaID) -> Jurisdiction? {
        switch id.kind {
        case .hub: county
        case .node: township
        case .patrol: hubGrant
        }
    }

    @discardableResult
    public func patrolPushesToNode() throws -> PushSummary {
        guard let request = try patrol.read({ try engine.nextPush(in: $0) }) else { return PushSummary() }
        let response = try node.write { try engine.receive(request, from: Peer(replica: patrolID, jurisdiction: nodeGrant), originJurisdiction: { _ in nodeGrant }, physicalNow: now, in: $0) }
        return try patrol.write { try engine.handle(response, in: $0) }
    }

    @discardableResult
    public func nodePushesToHub() throws -> (PushResponse?, PushSummary) {
        guard let request = try node.read({ try engine.nextPush(in: $0) }) else { return (nil, PushSummary()) }
        let response = try hub.write { try engine.receive(request, from: Peer(replica: nodeID, jurisdiction: township), originJurisdiction: origins, physicalNow: now, in: $0) }
        return (response, try node.write { try engine.handle(response, in: $0) })
    }

    @discardableResult
    public func pull(_ store: any SyncStore, as puller: ReplicaID, grant: Jurisdiction, from server: any SyncStore, named: String) throws -> PullSummary {
        var total = PullSummary()
        while true {
            let cursor = try store.read { try $0.checkpoint(peer: named) }
            let page = try server.read { try engine.servePull(PullRequest(puller: puller, after: cursor), for: Peer(replica: puller, jurisdiction: grant), in: $0) }
            let summary = try store.write { try engine.apply(page, from: named, physicalNow: now, in: $0) }
            total.applied += summary.applied
            total.confirmedAtCounty += summary.confirmedAtCounty
            total.rejectedByCounty += summary.rejectedByCounty
            if !page.more { return total }
        }
    }

    public func checkIn(_ id: String, village: DivisionCode) -> Draft {
        Draft(type: .checkIn, id: id, scope: village, author: "chief-1", fields: [
            "parcelID": .set(.string("\(village.rawValue)-0001")), "village": .set(.string(village.rawValue)), "author": .set("chief-1"),
            "at": .set(.number(Double(now))), "position": .set(["longitude": 118.3, "latitude": 35.0]), "accuracyMetres": .set(4),
            "observation": .set("ploughed"),
        ])
    }

    public func newCase(_ id: String, village: DivisionCode) -> Draft {
        Draft(type: .enforcementCase, id: id, scope: village, author: "clerk-7", fields: [
            "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
            "township": .set(.string(village.township!.rawValue)), "village": .set(.string(village.rawValue)),
            "discoveredAt": .set(.number(Double(now))), "summary": .set("digging"), "affectedAreaMu": .set(1),
            "status": .set(WorkflowValue(status: .reported, round: 1).json),
        ])
    }
}

/// Delegates to a real transaction and throws on the N-th record save (a crash mid-transaction).
public final class FailingTransaction: SyncTransaction {
    public struct Crash: Error {}
    let inner: any SyncTransaction
    var savesLeft: Int
    public init(_ inner: any SyncTransaction, failOnSave: Int) {
        self.inner = inner
        savesLeft = failOnSave
    }
    public func meta() throws -> ReplicaMeta? { try inner.meta() }
    public func saveMeta(_ meta: ReplicaMeta) throws { try inner.saveMeta(meta) }
    public func recordState(_ key: RecordKey) throws -> RecordState? { try inner.recordState(key) }
    public func saveRecordState(_ state: RecordState) throws {
        savesLeft -= 1
        if savesLeft == 0 { throw Crash() }
        try inner.saveRecordState(state)
    }
    public func deleteRecordState(_ key: RecordKey) throws { try inner.deleteRecordState(key) }
    public func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] { try inner.recordStates(in: jurisdiction) }
    public func logEntry(_ id: ChangeID) throws -> LogEntry? { try inner.logEntry(id) }
    public func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 { try inner.appendLog(change, delivery: delivery, rejection: rejection) }
    public func updateLog(_ entry: LogEntry) throws { try inner.updateLog(entry) }
    public func foldableChanges(of key: RecordKey) throws -> [Change] { try inner.foldableChanges(of: key) }
    public func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool) {
        try inner.logPage(after: after, in: jurisdiction, excluding: excluding, limit: limit)
    }
    public func pendingEntries(limit: Int) throws -> [LogEntry] { try inner.pendingEntries(limit: limit) }
    public func entries(delivery: Delivery) throws -> [LogEntry] { try inner.entries(delivery: delivery) }
    public func receivedRejection(_ id: ChangeID) throws -> Rejection? { try inner.receivedRejection(id) }
    public func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws { try inner.saveReceivedRejection(id, rejection) }
    public func checkpoint(peer: String) throws -> UInt64 { try inner.checkpoint(peer: peer) }
    public func saveCheckpoint(peer: String, cursor: UInt64) throws { try inner.saveCheckpoint(peer: peer, cursor: cursor) }
}

