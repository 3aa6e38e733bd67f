import Testing
import TianzhangDomain
import TianzhangStore
import TianzhangSync

/// A hub, one township node and one patrol device on in-memory stores, with hand-driven sync.
struct Trio {
    let engine = SyncEngine()
    let hub = InMemorySyncStore(), node = InMemorySyncStore(), patrol = InMemorySyncStore()
    let hubID = try! ReplicaID("hub:371312"), nodeID = try! ReplicaID("node:371312001"), patrolID = try! ReplicaID("patrol:p1")
    let county = Jurisdiction.county(try! DivisionCode("371312"))
    let township = Jurisdiction.township(try! DivisionCode("371312001"))
    let v201 = try! DivisionCode("371312001201"), v209 = try! DivisionCode("371312001209")
    /// The node still grants the patrol village 209, which the county has taken from it.
    var nodeGrant: Jurisdiction { .villages([v201, v209]) }
    var hubGrant: Jurisdiction { .villages([v201]) }
    var now: Int64 = 1_763_884_800_000

    init() throws {
        _ = try hub.write { try engine.open(replica: hubID, jurisdiction: county, in: $0) }
        _ = try node.write { try engine.open(replica: nodeID, jurisdiction: township, in: $0) }
        _ = try patrol.write { try engine.open(replica: patrolID, jurisdiction: nodeGrant, in: $0) }
    }

    func origins(_ id: ReplicaID) -> Jurisdiction? {
        switch id.kind {
        case .hub: county
        case .node: township
        case .patrol: hubGrant
        }
    }

    @discardableResult
    func patrolPushesToNode() throws -> PushSummary {
        guard let request = try patrol.read({ try engine.nextPush(in: $0) }) else { return PushSummary() }
        let response = try node.write { try engine.receive(request, from: Peer(replica: patrolID, jurisdiction: nodeGrant), originJurisdiction: { _ in nodeGrant }, physicalNow: now, in: $0) }
        return try patrol.write { try engine.handle(response, in: $0) }
    }

    @discardableResult
    func nodePushesToHub() throws -> (PushResponse?, PushSummary) {
        guard let request = try node.read({ try engine.nextPush(in: $0) }) else { return (nil, PushSummary()) }
        let response = try hub.write { try engine.receive(request, from: Peer(replica: nodeID, jurisdiction: township), originJurisdiction: origins, physicalNow: now, in: $0) }
        return (response, try node.write { try engine.handle(response, in: $0) })
    }

    @discardableResult
    func pull(_ store: InMemorySyncStore, as puller: ReplicaID, grant: Jurisdiction, from server: InMemorySyncStore, named: String) throws -> PullSummary {
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

    func checkIn(_ id: String, village: DivisionCode) -> Draft {
        Draft(type: .checkIn, id: id, scope: village, author: "chief-1", fields: [
            "parcelID": .set(.string("\(village.rawValue)-0001")), "village": .set(.string(village.rawValue)), "author": .set("chief-1"),
            "at": .set(.number(Double(now))), "position": .set(["longitude": 118.3, "latitude": 35.0]), "accuracyMetres": .set(4),
            "observation": .set("ploughed"),
        ])
    }

    func newCase(_ id: String, village: DivisionCode) -> Draft {
        Draft(type: .enforcementCase, id: id, scope: village, author: "clerk-7", fields: [
            "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
            "township": .set(.string(village.township!.rawValue)), "village": .set(.string(village.rawValue)),
            "discoveredAt": .set(.number(Double(now))), "summary": .set("digging"), "affectedAreaMu": .set(1),
            "status": .set(WorkflowValue(status: .reported, round: 1).json),
        ])
    }
}

@Suite("Sync engine")
struct SyncEngineTests {
    @Test("a patrol's check-in reaches the hub through the node with the patrol as origin, and the receipt comes back down")
    func relayKeepsOriginAndReceiptReturns() throws {
        let world = try Trio()
        // Given a check-in made offline on the device
        let change = try world.patrol.write { try world.engine.record(world.checkIn("CI1", village: world.v201), physicalNow: world.now, in: $0) }
        #expect(try world.patrol.read { try $0.logEntry(change.id)?.delivery } == .pending)
        // When it goes to the node, then the node goes to the hub
        #expect(try world.patrolPushesToNode().accepted == 1)
        #expect(try world.patrol.read { try $0.logEntry(change.id)?.delivery } == .forwarded)
        try world.nodePushesToHub()
        // Then the hub holds it with the device as origin
        let atHub = try #require(try world.hub.read { try $0.logEntry(change.id) })
        #expect(atHub.change.origin == world.patrolID)
        // And after the next pulls the device knows it reached the county
        try world.pull(world.node, as: world.nodeID, grant: world.township, from: world.hub, named: "hub")
        let summary = try world.pull(world.patrol, as: world.patrolID, grant: world.nodeGrant, from: world.node, named: "node")
        #expect(summary.confirmedAtCounty == 1)
        #expect(try world.patrol.read { try $0.logEntry(change.id)?.delivery } == .atCounty)
    }

    @Test("a refused change never blocks the ones behind it, is kept with its reason, leaves every state, and can be amended")
    func refusedChangeKeptAndAmended() throws {
        let world = try Trio()
        let ok1 = try world.patrol.write { try world.engine.record(world.checkIn("CI1", village: world.v201), physicalNow: world.now, in: $0) }
        let bad = try world.patrol.write { try world.engine.record(world.checkIn("CI2", village: world.v209), physicalNow: world.now, in: $0) }
        let ok2 = try world.patrol.write { try world.engine.record(world.checkIn("CI3", village: world.v201), physicalNow: world.now, in: $0) }
        try world.patrolPushesToNode()
        let (response, summary) = try world.nodePushesToHub()
        #expect(response?.results.map(\.outcome) == [.accepted, .rejected, .accepted])
        #expect(response?.results[1].rejection?.code == .outsideJurisdiction)
        #expect(summary.rejected.map(\.change.id) == [bad.id])
        #expect(try world.hub.read { try $0.logEntry(ok2.id) } != nil, "the change behind the refused one went through")
        // The node took the refused record out of its state.
        #expect(try world.node.read { try $0.recordState(RecordKey(.checkIn, "CI2")) } == nil)
        // The device learns of the refusal from the receipt, keeps the change, and drops it from its state.
        try world.pull(world.node, as: world.nodeID, grant: world.township, from: world.hub, named: "hub")
        let pulled = try world.pull(world.patrol, as: world.patrolID, grant: world.nodeGrant, from: world.node, named: "node")
        #expect(pulled.rejectedByCounty == [bad.id])
        let kept = try #require(try world.patrol.read { try $0.logEntry(bad.id) })
        #expect(kept.delivery == .rejected)
        #expect(kept.rejection?.code == .outsideJurisdiction)
        #expect(try world.patrol.read { try $0.recordState(RecordKey(.checkIn, "CI2")) } == nil)
        #expect(try world.patrol.read { try $0.logEntry(ok1.id)?.delivery } == .atCounty)
        // Amended into the right village, it goes through; the rejected entry links to its amendment.
        var fields = kept.change.fields
        fields["village"] = .set(.string(world.v201.rawValue))
        let amended = try world.patrol.write { try world.engine.amend(bad.id, fields: fields, scope: world.v201, physicalNow: world.now, in: $0) }
        #expect(try world.patrol.read { try $0.logEntry(bad.id)?.amendedBy } == amended.id)
        try world.patrolPushesToNode()
        #expect(try world.nodePushesToHub().0?.results.map(\.outcome) == [.accepted])
        #expect(throws: ProtocolError.self) { try world.patrol.write { try world.engine.amend(bad.id, physicalNow: world.now, in: $0) } }
    }

    @Test("the same push twice applies once and answers duplicate")
    func duplicatePushAppliesOnce() throws {
        let world = try Trio()
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now, in: $0) }
        let request = try #require(try world.node.read { try world.engine.nextPush(in: $0) })
        let peer = Peer(replica: world.nodeID, jurisdiction: world.township)
        let first = try world.hub.write { try world.engine.receive(request, from: peer, originJurisdiction: world.origins, physicalNow: world.now, in: $0) }
        let logLength = world.hub.snapshot().log.count
        let second = try world.hub.write { try world.engine.receive(request, from: peer, originJurisdiction: world.origins, physicalNow: world.now, in: $0) }
        #expect(first.results.map(\.outcome) == [.accepted])
        #expect(second.results.map(\.outcome) == [.duplicate])
        #expect(second.results[0].seq == first.results[0].seq)
        #expect(world.hub.snapshot().log.count == logLength, "no new change, no new receipt")
    }

    @Test("incompatible decisions from two sides: confirmed stays, the county gets a conflict, and resolves it")
    func incompatibleDecisions() throws {
        let world = try Trio()
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now, in: $0) }
        func status(_ store: InMemorySyncStore, _ value: WorkflowValue) throws {
            try store.write { tx in
                _ = try world.engine.record(Draft(type: .enforcementCase, id: "C1", scope: world.v201, author: "x", fields: ["status": .set(value.json)]), physicalNow: world.now, in: tx)
            }
        }
        try status(world.node, WorkflowValue(status: .verifying, round: 1))
        try world.nodePushesToHub()
        try world.pull(world.patrol, as: world.patrolID, grant: world.nodeGrant, from: world.node, named: "node")
        // Offline on both sides: the office dismisses, the field chief confirms.
        try status(world.node, WorkflowValue(status: .dismissed, round: 1))
        try status(world.patrol, WorkflowValue(status: .confirmed, round: 1))
        try world.patrolPushesToNode()
        let (response, _) = try world.nodePushesToHub()
        let conflicts = response?.results.compactMap(\.conflicts).flatMap { $0 } ?? []
        #expect(conflicts.contains { $0.kind == .incompatibleDecisions && $0.resolvableBy == [.county] })
        let state = try #require(try world.hub.read { try $0.recordState(RecordKey(.enforcementCase, "C1")) })
        #expect(state.materialized["status"] == "confirmed")
        // The county decides: dismissed, building on both lines.
        try status(world.hub, WorkflowValue(status: .dismissed, round: 1))
        let resolved = try #require(try world.hub.read { try $0.recordState(RecordKey(.enforcementCase, "C1")) })
        #expect(resolved.materialized["status"] == "dismissed")
        #expect(resolved.conflicts.first?.status == .resolved)
    }

    @Test("a stamp far in the future is refused with clock_ahead; a device hours behind is fine")
    func clockSkew() throws {
        let world = try Trio()
        // The office PC's clock runs an hour fast.
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now + 3_600_000, in: $0) }
        let (first, _) = try world.nodePushesToHub()
        #expect(first?.results.map(\.outcome) == [.rejected])
        #expect(first?.results[0].rejection?.code == .clockAhead)
        #expect(first?.results[0].rejection?.field == "hlc")
        // The field chief's phone is three hours behind: its check-in is taken, and relayed.
        let checkIn = try world.patrol.write { try world.engine.record(world.checkIn("CI1", village: world.v201), physicalNow: world.now - 3 * 3_600_000, in: $0) }
        #expect(try world.patrolPushesToNode().accepted == 1)
        let (second, _) = try world.nodePushesToHub()
        #expect(second?.results.map(\.id) == [checkIn.id])
        #expect(second?.results.map(\.outcome) == [.accepted])
    }

    @Test("a page and its checkpoint commit together: a failure mid-page leaves both untouched")
    func checkpointNeverRunsAhead() throws {
        let world = try Trio()
        for n in 1...5 { try world.node.write { _ = try world.engine.record(world.newCase("C\(n)", village: world.v201), physicalNow: world.now, in: $0) } }
        try world.nodePushesToHub()
        let page = try world.hub.read { try world.engine.servePull(PullRequest(puller: world.patrolID, after: 0), for: Peer(replica: world.patrolID, jurisdiction: world.hubGrant), in: $0) }
        #expect(page.changes.count >= 5)
        #expect(throws: CrashMarker.self) {
            try world.patrol.write { tx in
                _ = try world.engine.apply(page, from: "hub", physicalNow: world.now, in: FailingTransaction(tx, failOnSave: 3))
            }
        }
        #expect(try world.patrol.read { try $0.checkpoint(peer: "hub") } == 0)
        #expect(world.patrol.snapshot().log.isEmpty)
        _ = try world.patrol.write { try world.engine.apply(page, from: "hub", physicalNow: world.now, in: $0) }
        #expect(try world.patrol.read { try $0.checkpoint(peer: "hub") } == page.next)
        #expect(world.patrol.snapshot().records.count == page.changes.count)
    }

    @Test("a pull never returns records outside the puller's scope, nor its own changes")
    func pullIsScoped() throws {
        let world = try Trio()
        let v202 = try DivisionCode("371312001202")
        try world.node.write { _ = try world.engine.record(world.newCase("IN", village: world.v201), physicalNow: world.now, in: $0) }
        try world.node.write { _ = try world.engine.record(world.newCase("OUT", village: v202), physicalNow: world.now, in: $0) }
        let own = try world.patrol.write { try world.engine.record(world.checkIn("CI1", village: world.v201), physicalNow: world.now, in: $0) }
        try world.patrolPushesToNode()
        let page = try world.node.read { try world.engine.servePull(PullRequest(puller: world.patrolID, after: 0), for: Peer(replica: world.patrolID, jurisdiction: world.hubGrant), in: $0) }
        #expect(page.changes.map(\.recordID) == ["IN"])
        #expect(!page.changes.contains { $0.id == own.id })
    }
}

/// Delegates to a real transaction and throws on the N-th record save (a crash mid-transaction).
final class FailingTransaction: SyncTransaction {
    struct Crash: Error {}
    let inner: any SyncTransaction
    var savesLeft: Int
    init(_ inner: any SyncTransaction, failOnSave: Int) {
        self.inner = inner
        savesLeft = failOnSave
    }
    func meta() throws -> ReplicaMeta? { try inner.meta() }
    func saveMeta(_ meta: ReplicaMeta) throws { try inner.saveMeta(meta) }
    func recordState(_ key: RecordKey) throws -> RecordState? { try inner.recordState(key) }
    func saveRecordState(_ state: RecordState) throws {
        savesLeft -= 1
        if savesLeft == 0 { throw SyncEngineTests.CrashMarker.crash }
        try inner.saveRecordState(state)
    }
    func deleteRecordState(_ key: RecordKey) throws { try inner.deleteRecordState(key) }
    func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] { try inner.recordStates(in: jurisdiction) }
    func logEntry(_ id: ChangeID) throws -> LogEntry? { try inner.logEntry(id) }
    func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 { try inner.appendLog(change, delivery: delivery, rejection: rejection) }
    func updateLog(_ entry: LogEntry) throws { try inner.updateLog(entry) }
    func foldableChanges(of key: RecordKey) throws -> [Change] { try inner.foldableChanges(of: key) }
    func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool) {
        try inner.logPage(after: after, in: jurisdiction, excluding: excluding, limit: limit)
    }
    func pendingEntries(limit: Int) throws -> [LogEntry] { try inner.pendingEntries(limit: limit) }
    func entries(delivery: Delivery) throws -> [LogEntry] { try inner.entries(delivery: delivery) }
    func receivedRejection(_ id: ChangeID) throws -> Rejection? { try inner.receivedRejection(id) }
    func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws { try inner.saveReceivedRejection(id, rejection) }
    func checkpoint(peer: String) throws -> UInt64 { try inner.checkpoint(peer: peer) }
    func saveCheckpoint(peer: String, cursor: UInt64) throws { try inner.saveCheckpoint(peer: peer, cursor: cursor) }
}

extension SyncEngineTests {
    enum CrashMarker: Error { case crash }
}
