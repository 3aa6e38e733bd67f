import Testing
import TianzhangDomain
import TianzhangStore
import TianzhangSync
import TianzhangTesting
import TianzhangPostgres
import TianzhangSQLite
import Foundation

@Suite("Sync engine")
struct SyncEngineTests {
    @Test("a patrol's check-in reaches the hub through the node with the patrol as origin, and the receipt comes back down", arguments: StoreKind.allCases)
    func relayKeepsOriginAndReceiptReturns(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
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

    @Test("a relay cannot forge the county's receipts: a receipt its node wrote marks the patrol's change neither refused nor delivered")
    func relayCannotForgeReceipts() throws {
        let world = try Trio()
        let change = try world.patrol.write { try world.engine.record(world.checkIn("CI1", village: world.v201), physicalNow: world.now, in: $0) }
        #expect(try world.patrolPushesToNode().accepted == 1)
        // The node, hostile, serves its patrol receipts it wrote itself under the county's record ids.
        let note = JSONValue.object(["seq": .number(Double(change.id.seq)), "rejection": JSONValue(encoding: Rejection(.outsideJurisdiction, "forged", field: "scope"))])
        let forged = [
            Change(id: ChangeID(origin: world.nodeID, seq: 900), recordType: .receipt, recordID: world.patrolID.rawValue, scope: world.v201,
                   hlc: HLC(wall: world.now), author: "relay", fields: ["rejected": .add([note]), "accepted": .add([.number(Double(change.id.seq))])]),
            Change(id: ChangeID(origin: world.nodeID, seq: 901), recordType: .receipt, recordID: "\(world.patrolID.rawValue):\(change.id.seq)", scope: world.v201,
                   hlc: HLC(wall: world.now), author: "relay", fields: ["origin": .set(.string(world.patrolID.rawValue)), "rejected": .add([note])]),
        ]
        let page = PullResponse(server: world.nodeID, changes: forged, next: 2, more: false)
        let summary = try world.patrol.write { try world.engine.apply(page, from: "node", physicalNow: world.now, in: $0) }
        #expect(summary.rejectedByCounty.isEmpty && summary.confirmedAtCounty == 0)
        #expect(try world.patrol.read { try $0.logEntry(change.id)?.delivery } == .forwarded)
        #expect(try world.patrol.read { try $0.recordState(RecordKey(.checkIn, "CI1")) } != nil, "the check-in stays in the device's state")
        // The county's own receipt still works: the real path confirms it.
        try world.nodePushesToHub()
        try world.pull(world.node, as: world.nodeID, grant: world.township, from: world.hub, named: "hub")
        try world.pull(world.patrol, as: world.patrolID, grant: world.nodeGrant, from: world.node, named: "node2")
        #expect(try world.patrol.read { try $0.logEntry(change.id)?.delivery } == .atCounty)
    }

    @Test("a refused change never blocks the ones behind it, is kept with its reason, leaves every state, and can be amended", arguments: StoreKind.allCases)
    func refusedChangeKeptAndAmended(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
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

    @Test("the same push twice applies once and answers duplicate", arguments: StoreKind.allCases)
    func duplicatePushAppliesOnce(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now, in: $0) }
        let request = try #require(try world.node.read { try world.engine.nextPush(in: $0) })
        let peer = Peer(replica: world.nodeID, jurisdiction: world.township)
        let first = try world.hub.write { try world.engine.receive(request, from: peer, originJurisdiction: world.origins, physicalNow: world.now, in: $0) }
        let logLength = try world.logLength(world.hub)
        let second = try world.hub.write { try world.engine.receive(request, from: peer, originJurisdiction: world.origins, physicalNow: world.now, in: $0) }
        #expect(first.results.map(\.outcome) == [.accepted])
        #expect(second.results.map(\.outcome) == [.duplicate])
        #expect(second.results[0].seq == first.results[0].seq)
        #expect(try world.logLength(world.hub) == logLength, "no new change, no new receipt")
    }

    @Test("incompatible decisions from two sides: confirmed stays, the county gets a conflict, and resolves it", arguments: StoreKind.allCases)
    func incompatibleDecisions(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now, in: $0) }
        func status(_ store: any SyncStore, _ value: WorkflowValue) throws {
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

    @Test("a stamp far in the future is refused with clock_ahead; a device hours behind is fine", arguments: StoreKind.allCases)
    func clockSkew(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        // The office PC's clock runs an hour fast.
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now + 3_600_000, in: $0) }
        let (first, _) = try world.nodePushesToHub()
        #expect(first?.results.map(\.outcome) == [.rejected])
        #expect(first?.results[0].rejection?.code == .clockAhead)
        #expect(first?.results[0].rejection?.field == "hlc")
        // The field chief's phone is three hours behind: its check-in is taken, and relayed.
        let checkIn = try world.patrol.write { try world.engine.record(world.checkIn("CI1", village: world.v201), physicalNow: world.now - 3 * 3_600_000, in: $0) }
        #expect(try world.patrolPushesToNode().accepted == 1)
        // The case stamped an hour ahead is not final: it stays in the node's outbox and goes again (still
        // ahead, still refused), beside the relayed check-in, which is taken.
        let (second, _) = try world.nodePushesToHub()
        #expect(second?.results.map(\.id) == [try #require(first?.results.first?.id), checkIn.id])
        #expect(second?.results.map(\.outcome) == [.rejected, .accepted])
    }

    @Test("a clock learned at hello: stamps stay within county time plus the drift, a clock that ran ahead is brought back", arguments: StoreKind.allCases)
    func countyTimeCapsStamps(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        // One edit with the office PC 6 h fast drags the clock along; its next hello says so.
        try world.node.write { _ = try world.engine.record(world.newCase("C1", village: world.v201), physicalNow: world.now + 6 * 3_600_000, in: $0) }
        let reading = try world.node.write { try world.engine.learnCountyTime(serverTime: world.now, sentAt: world.now - 10, receivedAt: world.now + 10, in: $0) }
        #expect(reading.offsetMilliseconds == 0 && reading.rewoundMilliseconds == 6 * 3_600_000 - SyncEngine.stampDriftMilliseconds)
        // The PC's clock is right again: the next stamp is not dragged 6 h ahead.
        let recovered = try world.node.write { try world.engine.record(world.newCase("C2", village: world.v201), physicalNow: world.now + 1, in: $0) }
        #expect(recovered.hlc.wall <= world.now + 1 + SyncEngine.stampDriftMilliseconds)
        // Learned while 6 h fast: the offset corrects the wall clock, and the stamp is the county's time.
        _ = try world.node.write { try world.engine.learnCountyTime(serverTime: world.now, sentAt: world.now + 6 * 3_600_000, receivedAt: world.now + 6 * 3_600_000, in: $0) }
        let corrected = try world.node.write { try world.engine.record(world.newCase("C3", village: world.v201), physicalNow: world.now + 6 * 3_600_000 + 5, in: $0) }
        #expect(corrected.hlc.wall <= world.now + SyncEngine.stampDriftMilliseconds)
        let (pushed, _) = try world.nodePushesToHub()
        #expect(pushed?.results.map(\.outcome) == [.rejected, .accepted, .accepted], "only the edit made before the clock was known is clock_ahead")
        // Not final: the hub remembers nothing, the node keeps C1 in its outbox.
        let c1 = try #require(pushed?.results.first?.id)
        #expect(try world.hub.read { try $0.receivedRejection(c1) } == nil)
        #expect(try world.node.read { try $0.logEntry(c1) }?.delivery == .pending)
        // At the next hello it is recorded again in county time, and taken.
        let restamped = try world.node.write { try world.engine.restampAhead(physicalNow: world.now + 6 * 3_600_000 + 10, in: $0) }
        #expect(restamped.count == 1 && restamped[0].hasPrefix("\(c1) → "), "\(restamped)")
        // It left the log; a store that cannot remove entries (PostgreSQL, a hub's) keeps it refused, amended.
        let old = try world.node.read { try $0.logEntry(c1) }
        #expect(old == nil || (old?.delivery == .rejected && old?.amendedBy != nil), "\(String(describing: old))")
        let (again, _) = try world.nodePushesToHub()
        #expect(again?.results.map(\.outcome) == [.accepted])
    }

    @Test("a store tells the highest seq of an origin it holds and its log head; hello facts and reconcile use them", arguments: StoreKind.allCases)
    func storeTellsWhatItHolds(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        for n in 1...3 { try world.node.write { _ = try world.engine.record(world.newCase("C\(n)", village: world.v201), physicalNow: world.now, in: $0) } }
        _ = try world.nodePushesToHub()
        let held = try world.hub.read { tx in (try tx.highestSeq(of: world.nodeID), try tx.logHead()) }
        #expect(held.0 == 3)
        #expect((held.1 ?? 0) >= 4, "three cases and a receipt")
        #expect(try world.hub.read { try $0.highestSeq(of: world.patrolID) } == 0)
        let facts = try world.hub.read { tx in try world.engine.helloFacts(for: HelloRequest(replica: world.nodeID), in: tx) }
        #expect(facts.held == 3 && facts.incarnation != nil)
        // A node restored to a copy without its last change learns it at hello and skips past it.
        try world.node.write { tx in
            var meta = try #require(try tx.meta())
            meta.originSeq = 2
            try tx.saveMeta(meta)
        }
        var hello = HelloResponse(protocolVersion: 1, server: world.hubID, serverTime: world.now, limits: ProtocolLimits(), recordTypes: [], jurisdiction: world.township)
        hello.heldSeq = facts.held
        let findings = try world.node.write { tx in try world.engine.reconcile(hello, knownIncarnation: nil, checkpoint: "hub", physicalNow: world.now, in: tx) }
        #expect(findings.ownSeqsSkipped == 1 && findings.recoverOwn)
        let next = try world.node.write { try world.engine.record(world.newCase("C4", village: world.v201), physicalNow: world.now, in: $0) }
        #expect(next.id.seq == 4)
        // A hub that lost two of them: the node sends them again.
        hello.heldSeq = 1
        let lost = try world.node.write { tx in try world.engine.reconcile(hello, knownIncarnation: nil, checkpoint: "hub", physicalNow: world.now, in: tx) }
        #expect(lost.resent == 2 && lost.repullReason != nil)
    }

    @Test("a cursor token that names another entry than the server holds there (a restored log) gets the page from the start, with cursorReset", arguments: StoreKind.allCases)
    func cursorTokenCatchesRestoredLog(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        for n in 1...4 { try world.node.write { _ = try world.engine.record(world.newCase("C\(n)", village: world.v201), physicalNow: world.now, in: $0) } }
        let peer = Peer(replica: world.patrolID, jurisdiction: world.hubGrant)
        let first = try world.node.read { try world.engine.servePull(PullRequest(puller: world.patrolID, after: 0, limit: 2), for: peer, in: $0) }
        let token = try #require(first.cursorToken)
        #expect(first.next == 2 && first.cursorReset == nil)
        // The same server, the same entry at the cursor: the next page follows on.
        var request = PullRequest(puller: world.patrolID, after: first.next, limit: 10)
        request.afterToken = token
        let second = try world.node.read { try world.engine.servePull(request, for: peer, in: $0) }
        #expect(second.cursorReset == nil && second.changes.map(\.recordID) == ["C3", "C4"])
        // A token naming another entry (the store was restored and handed position 2 out again): from the start.
        request.afterToken = "0000000000000000"
        let reset = try world.node.read { try world.engine.servePull(request, for: peer, in: $0) }
        #expect(reset.cursorReset == true && reset.changes.map(\.recordID) == ["C1", "C2", "C3", "C4"])
        #expect(reset.cursorToken == second.cursorToken && reset.next == second.next)
        // A cursor past the log's end with a token: from the start too; without a token, as before.
        request.after = 99
        #expect(try world.node.read { try world.engine.servePull(request, for: peer, in: $0) }.cursorReset == true)
        request.afterToken = nil
        #expect(try world.node.read { try world.engine.servePull(request, for: peer, in: $0) }.changes.isEmpty)
    }

    @Test("a server that lost changes it took (restored) but holds newer ones of the same origin: missingSeqs names them and the client sends them again", arguments: StoreKind.allCases)
    func missingSeqsAreResent(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        for n in 1...4 { try world.patrol.write { _ = try world.engine.record(world.checkIn("CI\(n)", village: world.v201), physicalNow: world.now, in: $0) } }
        try world.patrolPushesToNode()
        let asked = try world.patrol.read { tx in try world.engine.describeForHello(HelloRequest(replica: world.patrolID), localTime: world.now, checkpoint: "hub", in: tx) }
        #expect(asked.forwardedSeqs == [1, 2, 3, 4])
        // The node is restored to a copy without seqs 2 and 3 (it took seq 4 again since): its highest seq is 4.
        let restored = try kind.make()
        _ = try restored.write { try world.engine.open(replica: world.nodeID, jurisdiction: world.township, in: $0) }
        try world.node.read { tx in
            for seq: UInt64 in [1, 4] {
                let entry = try #require(try tx.logEntry(ChangeID(origin: world.patrolID, seq: seq)))
                _ = try restored.write { try $0.appendLog(entry.change, delivery: entry.delivery, rejection: nil) }
            }
        }
        let facts = try restored.read { tx in try world.engine.helloFacts(for: asked, in: tx) }
        #expect(facts.held == 4 && facts.missing == [2, 3])
        var hello = HelloResponse(protocolVersion: 1, server: world.nodeID, serverTime: world.now, limits: ProtocolLimits(), recordTypes: [], jurisdiction: world.nodeGrant)
        hello.heldSeq = facts.held
        hello.missingSeqs = facts.missing
        let findings = try world.patrol.write { tx in try world.engine.reconcile(hello, knownIncarnation: nil, checkpoint: "hub", physicalNow: world.now, in: tx) }
        #expect(findings.resent == 2)
        let pending = try world.patrol.read { try $0.pendingEntries(limit: 10) }.map(\.change.id.seq)
        #expect(pending == [2, 3])
    }

    @Test("a page and its checkpoint commit together: a failure mid-page leaves both untouched", arguments: StoreKind.allCases)
    func checkpointNeverRunsAhead(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        for n in 1...5 { try world.node.write { _ = try world.engine.record(world.newCase("C\(n)", village: world.v201), physicalNow: world.now, in: $0) } }
        try world.nodePushesToHub()
        let page = try world.hub.read { try world.engine.servePull(PullRequest(puller: world.patrolID, after: 0), for: Peer(replica: world.patrolID, jurisdiction: world.hubGrant), in: $0) }
        #expect(page.changes.count >= 5)
        #expect(throws: FailingTransaction.Crash.self) {
            try world.patrol.write { tx in
                _ = try world.engine.apply(page, from: "hub", physicalNow: world.now, in: FailingTransaction(tx, failOnSave: 3))
            }
        }
        #expect(try world.patrol.read { try $0.checkpoint(peer: "hub") } == 0)
        #expect(try world.logLength(world.patrol) == 0)
        _ = try world.patrol.write { try world.engine.apply(page, from: "hub", physicalNow: world.now, in: $0) }
        #expect(try world.patrol.read { try $0.checkpoint(peer: "hub") } == page.next)
        #expect(try world.patrol.read { try $0.recordStates(in: world.county) }.count == page.changes.count)
    }

    @Test("a pull never returns records outside the puller's scope, nor its own changes", arguments: StoreKind.allCases)
    func pullIsScoped(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
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



@Suite("Correction requests")
struct CorrectionTests {
    @Test("a township's edit of reference data travels as a correction request; the county accepts it and the parcel changes everywhere", arguments: StoreKind.allCases)
    func correctionAccepted(kind: StoreKind) throws {
        let world = try Trio(makeStore: kind.make)
        let parcel = "371312001201-0001"
        let square: JSONValue = JSONValue(encoding: Polygon(exterior: [(0.0, 0.0), (0.001, 0.0), (0.001, 0.001), (0.0, 0.001), (0.0, 0.0)].map { Coordinate(longitude: 118.3 + $0.0, latitude: 35 + $0.1) }))
        try world.hub.write { tx in
            _ = try world.engine.record(Draft(type: .parcel, id: parcel, scope: world.v201, author: "dispatcher", fields: [
                "village": .set(.string(world.v201.rawValue)), "landClass": .set("0101"), "areaMu": .set(15), "isPermanentBasicFarmland": .set(true),
                "fieldChief": .set("chief"), "geometry": .set(square),
            ]), physicalNow: world.now, in: tx)
        }
        try world.pull(world.node, as: world.nodeID, grant: world.township, from: world.hub, named: "hub")
        // Editing the area directly is refused at once, with the way forward in the message.
        #expect(throws: Rejection.self) {
            try world.node.write { tx in _ = try world.engine.record(Draft(type: .parcel, id: parcel, scope: world.v201, author: "clerk", fields: ["areaMu": .set(18)]), physicalNow: world.now, in: tx) }
        }
        // A proposal of a field that is not reference data, or of an invalid value, is refused too.
        #expect(throws: Rejection.self) {
            try world.node.write { tx in _ = try world.engine.requestCorrection(id: "R0", parcel: parcel, scope: world.v201, proposed: ["note": "x"], reason: "r", author: "clerk", physicalNow: world.now, in: tx) }
        }
        #expect(throws: Rejection.self) {
            try world.node.write { tx in _ = try world.engine.requestCorrection(id: "R0", parcel: parcel, scope: world.v201, proposed: ["areaMu": -5], reason: "r", author: "clerk", physicalNow: world.now, in: tx) }
        }
        try world.node.write { tx in
            _ = try world.engine.requestCorrection(id: "R1", parcel: parcel, scope: world.v201, proposed: ["areaMu": 18], reason: "re-measured after the ditch was moved", author: "clerk", physicalNow: world.now, in: tx)
        }
        #expect(try world.nodePushesToHub().0?.results.map(\.outcome) == [.accepted])
        #expect(try world.hub.read { try $0.recordState(RecordKey(.parcel, parcel)) }?.materialized["areaMu"] == 15, "nothing changes before the county decides")
        try world.hub.write { tx in try world.engine.decideCorrection("R1", accept: true, note: "confirmed on site", author: "director", physicalNow: world.now, in: tx) }
        try world.pull(world.node, as: world.nodeID, grant: world.township, from: world.hub, named: "hub")
        #expect(try world.node.read { try $0.recordState(RecordKey(.parcel, parcel)) }?.materialized["areaMu"] == 18)
        #expect(try world.node.read { try $0.recordState(RecordKey(.correction, "R1")) }?.materialized["decision"] == "accepted")
        #expect(throws: ProtocolError.self) { try world.node.write { tx in try world.engine.decideCorrection("R1", accept: false, note: "", author: "clerk", physicalNow: world.now, in: tx) } }
    }
}

/// The stores the engine's tests run against: the in-memory reference model, SQLite (a file in a
/// temporary folder) and PostgreSQL (a schema of its own in the test cluster `scripts/test.sh`
/// starts). One test body, every store: this is the stores' conformance suite.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, postgres
    var testDescription: String { rawValue }

    /// PostgreSQL runs whenever the test cluster is there, and must be there when the test script asks.
    static var allCases: [StoreKind] { TestPostgres.enabled ? [.memory, .sqlite, .postgres] : [.memory, .sqlite] }

    func make() throws -> any SyncStore {
        switch self {
        case .memory: return InMemorySyncStore()
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            return try SQLiteReplicaStore(path: folder.appendingPathComponent("replica.sqlite").path)
        case .postgres:
            return try PostgresSyncStore(url: try TestPostgres.url(), schema: TestPostgres.freshSchema())
        }
    }
}

extension Trio {
    func logLength(_ store: any SyncStore) throws -> Int {
        try store.read { try $0.logPage(after: 0, in: county, excluding: nil, limit: 1_000_000).entries.count }
    }
}

@Suite("Pulled changes are checked against the keys the puller knows")
struct PulledSignatureTests {
    @Test("a page holding a county change altered on the way is refused whole (bad_signature) and nothing of it is applied; the unaltered page applies")
    func alteredPageAppliesNothing() throws {
        let world = try Trio(makeStore: StoreKind.memory.make)
        let hubMeta = try #require(try world.hub.read { try $0.meta() })
        let hubKey = try #require(hubMeta.signingSeed.flatMap(ChangeSigning.publicKey(seed:)))
        _ = try world.hub.write { try world.engine.record(world.checkIn("CI9", village: world.v201), physicalNow: world.now, in: $0) }
        let page = try world.hub.read {
            try world.engine.servePull(PullRequest(puller: world.nodeID, after: 0, limit: 100), for: Peer(replica: world.nodeID, jurisdiction: world.township), in: $0)
        }
        let index = try #require(page.changes.firstIndex { $0.origin == world.hubID && $0.recordType == .checkIn })
        var altered = page
        altered.changes[index].author = "relay"
        let keys: (ReplicaID) -> OriginKeys = { $0.kind == .hub ? .keys([hubKey]) : .notChecked }
        #expect(throws: ProtocolError.self) {
            _ = try world.node.write { try world.engine.apply(altered, from: "hub", originKeys: keys, physicalNow: world.now, in: $0) }
        }
        #expect(try world.node.read { try $0.logEntry(page.changes[index].id) } == nil, "nothing of the refused page was applied")
        #expect(try world.node.read { try $0.checkpoint(peer: "hub") } == 0)
        let applied = try world.node.write { try world.engine.apply(page, from: "hub", originKeys: keys, physicalNow: world.now, in: $0) }
        #expect(applied.applied == page.changes.count)
    }
}

@Suite("Signatures verified before the write transaction")
struct PrecheckedSignatureTests {
    /// A node's signed check-in, the key to check it against, and the hub's view of the node.
    let node = InMemorySyncStore()
    let credential = "node-credential-for-signature-tests"

    func signedCheckIn(_ world: Trio, id: String) throws -> (Change, OriginKeys) {
        if try node.read({ try $0.meta() }) == nil {
            _ = try node.write { try world.engine.open(replica: world.nodeID, jurisdiction: world.township, credential: credential, in: $0) }
        }
        let change = try node.write { try world.engine.record(world.checkIn(id, village: world.v201), physicalNow: world.now, in: $0) }
        #expect(change.signature != nil)
        return (change, .keys([ChangeSigning.publicKey(fromCredential: credential)]))
    }

    func receive(_ world: Trio, _ changes: [Change], keys: OriginKeys, verifyingWith precheckKeys: OriginKeys? = nil) throws -> PushResponse {
        var prechecked = Admission.precheck(changes)
        prechecked.verifySignatures(changes) { _ in precheckKeys ?? keys }
        return try world.hub.write {
            try world.engine.receive(PushRequest(sender: world.nodeID, changes: changes), from: Peer(replica: world.nodeID, jurisdiction: world.township),
                                     originJurisdiction: world.origins, originKeys: { _ in keys }, prechecked: prechecked, physicalNow: world.now, in: $0)
        }
    }

    @Test("a verdict worked out before the transaction decides: a valid change is taken, an altered one refused bad_signature")
    func verdictDecides() throws {
        let world = try Trio(makeStore: StoreKind.memory.make)
        let (valid, keys) = try signedCheckIn(world, id: "CI1")
        var altered = try signedCheckIn(world, id: "CI2").0
        altered.author = "relay"
        let response = try receive(world, [valid, altered], keys: keys)
        #expect(response.results.map(\.outcome) == [.accepted, .rejected])
        #expect(response.results[1].rejection?.code == .badSignature)
    }

    @Test("a verdict for other keys than the transaction's is not used: the change is verified again")
    func verdictForOtherKeysIsIgnored() throws {
        let world = try Trio(makeStore: StoreKind.memory.make)
        let (change, keys) = try signedCheckIn(world, id: "CI1")
        // Prechecked against the right key, checked in the transaction against a key that is not its own.
        let stranger = OriginKeys.keys([ChangeSigning.publicKey(fromCredential: "someone else")])
        let response = try receive(world, [change], keys: stranger, verifyingWith: keys)
        #expect(response.results.first?.rejection?.code == .badSignature)
    }

    @Test("an id that comes twice in one batch gets no verdict: its altered copy is verified in the transaction and never taken")
    func duplicateIDsAreVerifiedInside() throws {
        let world = try Trio(makeStore: StoreKind.memory.make)
        let (valid, keys) = try signedCheckIn(world, id: "CI1")
        var copy = valid
        copy.author = "relay"
        let response = try receive(world, [copy, valid], keys: keys)
        #expect(response.results[0].outcome == .rejected && response.results[0].rejection?.code == .badSignature, "\(response.results)")
        #expect(response.results[1].outcome == .accepted)
        #expect(try world.hub.read { try $0.logEntry(valid.id) }?.change.author == valid.author)
    }
}
