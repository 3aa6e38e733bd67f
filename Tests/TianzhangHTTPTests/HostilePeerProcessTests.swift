import Foundation
import Testing
import TianzhangTestGate
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync
import TianzhangTesting

/// A replica in-process, as a hostile or honest peer of the real hub process: its own store, enrolled
/// with a real credential, able to push whatever it likes.
struct HostilePeer {
    let replica: ReplicaID
    let secret: String
    let store: SQLiteReplicaStore
    let client: SyncClient
    let runner: SyncRunner
    let engine = SyncEngine()

    init(_ replica: String, secret: String, hub: URL, folder: URL) async throws {
        self.replica = try ReplicaID(replica)
        self.secret = secret
        store = try SQLiteReplicaStore(path: folder.appendingPathComponent("\(replica.replacingOccurrences(of: ":", with: "-"))-\(UUID().uuidString).sqlite").path)
        client = SyncClient(baseURL: hub, credential: secret)
        let hello = try await client.hello(HelloRequest(replica: self.replica))
        try store.write { [engine, replica = self.replica] tx in _ = try engine.open(replica: replica, jurisdiction: hello.jurisdiction, credential: secret, in: tx) }
        var runner = SyncRunner(store: store, engine: engine, client: client, replica: self.replica)
        runner.retriesMax = 2
        self.runner = runner
    }

    var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A check-in as `origin` would write it (not recorded anywhere).
    func checkIn(origin: ReplicaID, seq: UInt64, parcel: String, village: DivisionCode, note: String) throws -> Change {
        try checkInChange(origin: origin, seq: seq, parcel: parcel, village: village, note: note, at: now)
    }

    /// Records a check-in the honest way (signed, in the outbox).
    func record(parcel: String, village: DivisionCode, note: String) throws -> Change {
        let draft = try checkIn(origin: replica, seq: 1, parcel: parcel, village: village, note: note)
        return try store.write { [engine, now] tx in
            try engine.record(Draft(type: .checkIn, id: draft.recordID, scope: village, author: draft.author, fields: draft.fields), physicalNow: now, in: tx)
        }
    }

    /// Signs a change with this peer's own key (a relay signing what it forged).
    func signedByMe(_ change: Change) -> Change {
        var change = change
        ChangeSigning.sign(&change, seed: ChangeSigning.seed(fromCredential: secret))
        return change
    }

    func push(_ changes: [Change]) async throws -> [ChangeResult] {
        try await client.push(PushRequest(sender: replica, changes: changes)).results
    }

    func state(_ key: RecordKey) throws -> RecordState? { try store.read { try $0.recordState(key) } }
}

/// A check-in by `origin` at `parcel`, as a change (recorded nowhere): its fields are the domain record's.
func checkInChange(origin: ReplicaID, seq: UInt64, parcel: String, village: DivisionCode, note: String, at now: Int64) throws -> Change {
    var rng = SystemRandomNumberGenerator()
    let value = CheckIn(
        id: RecordID.generate(at: Timestamp(milliseconds: now), using: &rng), parcelID: try RecordID(parcel), village: village, author: origin.rawValue,
        at: Timestamp(milliseconds: now), position: Coordinate(longitude: 118.35, latitude: 35.05), accuracyMetres: 8, observation: note)
    var fields: [String: FieldOperation] = [:]
    for (key, field) in JSONValue(encoding: value).objectValue ?? [:] where key != "id" { fields[key] = .set(field) }
    return Change(id: ChangeID(origin: origin, seq: seq), recordType: .checkIn, recordID: value.id.rawValue, scope: village, hlc: HLC(wall: now), author: origin.rawValue, fields: fields)
}

@Suite("Hostile peers against a real hub process: forged origins, replays, illegal workflow jumps", .serialized, .blocksAThread)
struct HostilePeerProcessTests {
    /// Issue 10, finding 1. Before signatures the hub accepted the relay's forged seq 1–3 and then
    /// answered the device's real seq 1–3 `duplicate` (its work lost, the forgery kept); it accepted
    /// ghost origins; a replayed id of another township answered `duplicate` with its log seq.
    @Test("a relay cannot forge a device's or a node's changes, ghosts are refused, a replay reveals nothing, a reused id never displaces the first")
    func forgedOrigins() async throws {
        let world = try RelayWorld()
        let hub = URL(string: "http://127.0.0.1:\(world.hubPort)")!
        let villages = try world.villages(of: "371312001")
        let home = villages[0]
        let parcels = try world.store("hub.sqlite").read { try $0.recordStates(in: .county(world.county)) }.filter { $0.key.type == .parcel }
        let elsewhere = parcels.map(\.scope).filter { $0.township?.rawValue != "371312001" }.min()
        let theirs = try #require(elsewhere, "the county has a second township")
        let otherTownship = theirs.township!.rawValue
        let relay = try await HostilePeer("node:371312001", secret: try world.enrol("node:371312001", ["--township", "371312001"]), hub: hub, folder: world.folder)
        let other = try await HostilePeer("node:\(otherTownship)", secret: try world.enrol("node:\(otherTownship)", ["--township", otherTownship]), hub: hub, folder: world.folder)
        let device = try await HostilePeer("patrol:chief-1", secret: try world.enrol("patrol:chief-1", ["--villages", home.rawValue]), hub: hub, folder: world.folder)
        _ = try await relay.runner.sync()
        let parcel = try #require(try relay.store.read { try $0.recordStates(in: .villages([home])) }.first { $0.key.type == .parcel }?.key.id)

        // The relay forges the device's seq 1–3: unsigned, signed with its own key, and a copy of nothing.
        let forged = try (1...3).map { try relay.checkIn(origin: device.replica, seq: $0, parcel: parcel, village: home, note: "伪造 \($0)") }
        let answers = try await relay.push([forged[0], relay.signedByMe(forged[1]), relay.signedByMe(forged[2])])
        #expect(answers.map(\.outcome) == [.rejected, .rejected, .rejected])
        #expect(answers.map { $0.rejection?.code.rawValue } == ["missing_signature", "bad_signature", "bad_signature"])

        // The device's real seq 1–3 are then accepted, not `duplicate`: the forgeries left nothing behind.
        var real: [Change] = []
        for index in 1...3 { real.append(try device.record(parcel: parcel, village: home, note: "巡田 \(index): 无异常")) }
        #expect(real.map(\.id.seq) == [1, 2, 3])
        let delivered = try await device.runner.sync()
        #expect(delivered.accepted == 3 && delivered.duplicates == 0 && delivered.rejected.isEmpty, "\(delivered)")
        let atHub = try world.store("hub.sqlite")
        for change in real {
            let held = try #require(try atHub.read { try $0.logEntry(change.id) })
            #expect(held.change.fields["observation"] == change.fields["observation"], "the county holds the device's own text")
        }

        // The relay may still forward the device's real change (a retry): it is the device's, unaltered.
        let relayed = try await relay.push([real[0]])
        #expect(relayed.map(\.outcome) == [.duplicate])

        // A patrol pushing a node's change id first cannot block the node's real change.
        let nodeChange = try relay.record(parcel: parcel, village: home, note: "所里核查")
        let squat = try await device.push([device.signedByMe(Change(
            id: nodeChange.id, recordType: .checkIn, recordID: nodeChange.recordID, scope: home, hlc: nodeChange.hlc, author: "x", fields: nodeChange.fields))])
        #expect(squat.first?.rejection?.code == .originMismatch)
        let nodeSync = try await relay.runner.sync()
        #expect(nodeSync.accepted == 1 && nodeSync.rejected.isEmpty, "\(nodeSync)")

        // Origins the county never enrolled are refused, relayed or not.
        let ghosts = try await relay.push([
            relay.signedByMe(try relay.checkIn(origin: try ReplicaID("patrol:ghost-device"), seq: 1, parcel: parcel, village: home, note: "ghost")),
            relay.signedByMe(try relay.checkIn(origin: try ReplicaID("node:371312099"), seq: 1, parcel: parcel, village: home, note: "ghost")),
        ])
        #expect(ghosts.map { $0.rejection?.code.rawValue } == ["unknown_origin", "unknown_origin"])

        // Another township replays the device's change: as sent, and moved into its own township.
        let replayed = try await other.push([real[1]])
        #expect(replayed.first?.outcome == .rejected)
        #expect(replayed.first?.rejection?.code == .outsideJurisdiction)
        #expect(replayed.first?.seq == nil, "no log position of another township's change is revealed")
        var moved = real[1]
        moved.scope = theirs
        let movedAnswer = try await other.push([moved])
        #expect(movedAnswer.first?.rejection?.code == .badSignature)

        // The same id with other content, validly signed by its origin (a store restored from an old
        // copy): refused with its own code; the first stands.
        var reused = try device.checkIn(origin: device.replica, seq: 2, parcel: parcel, village: home, note: "同号不同内容")
        reused = device.signedByMe(reused)
        let reusedAnswer = try await device.push([reused])
        #expect(reusedAnswer.first?.rejection?.code == .conflictingChangeID)
        #expect(try atHub.read { try $0.logEntry(real[1].id) }?.change.fields["observation"] == real[1].fields["observation"])
        // And the device's delivery records still say delivered: no refusal was receipted against it.
        let after = try await device.runner.sync()
        #expect(after.rejected.isEmpty)
        for change in real { #expect(try device.store.read { try $0.logEntry(change.id) }?.delivery == .atCounty) }
    }

    /// Issue 10, finding 2. Before the workflow table was enforced at receivers, the hub accepted a
    /// crafted `reported → rectified` and a patrol's jump to round 7.
    @Test("the hub enforces the workflow table on what nodes and patrols push: no skipped stages, no rounds from nowhere, closing is the county's")
    func illegalWorkflowJumps() async throws {
        let world = try RelayWorld()
        let hub = URL(string: "http://127.0.0.1:\(world.hubPort)")!
        let node = try await HostilePeer("node:371312001", secret: try world.enrol("node:371312001", ["--township", "371312001"]), hub: hub, folder: world.folder)
        _ = try await node.runner.sync()
        // The township reports a case (reported, round 1) and the county holds it.
        let village = try #require(try world.villages(of: "371312001").first)
        let created = try node.store.write { [engine = node.engine, now = node.now] tx in
            try engine.record(Draft(type: .enforcementCase, id: "01JD00000000000000000000W1", scope: village, author: "clerk", fields: [
                "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
                "township": .set("371312001"), "village": .set(.string(village.rawValue)), "discoveredAt": .set(.number(Double(now))),
                "summary": .set("挖土"), "affectedAreaMu": .set(1), "status": .set(WorkflowValue(status: .reported, round: 1).json),
            ]), physicalNow: now, in: tx)
        }
        let first = try await node.runner.sync()
        #expect(first.accepted == 1, "\(first)")
        let key = try #require(created.key)
        let reported = try #require(try node.state(key))
        let device = try await HostilePeer("patrol:chief-2", secret: try world.enrol("patrol:chief-2", ["--villages", village.rawValue]), hub: hub, folder: world.folder)
        _ = try await device.runner.sync()
        let status = WorkflowValue(status: .reported, round: 1)
        #expect(reported.materialized["status"] == .string("reported"))

        func statusWrite(_ peer: HostilePeer, seq: UInt64, _ value: WorkflowValue, base: [ChangeID]) -> Change {
            peer.signedByMe(Change(
                id: ChangeID(origin: peer.replica, seq: seq), recordType: .enforcementCase, recordID: reported.key.id, scope: village,
                hlc: HLC(wall: peer.now), author: "x", base: base, fields: ["status": .set(value.json)]))
        }
        let heads = reported.heads(of: ["status"])
        let skip = try await node.push([statusWrite(node, seq: 11, WorkflowValue(status: .rectified, round: status.round, decision: .confirmed), base: heads)])
        #expect(skip.first?.rejection?.code == .illegalTransition, "\(skip)")
        let round7 = try await device.push([statusWrite(device, seq: 1, WorkflowValue(status: .verifying, round: 7), base: heads)])
        #expect(round7.first?.rejection?.code == .illegalTransition, "\(round7)")
        #expect(round7.first?.rejection?.message.contains("round") == true)
        let close = try await node.push([statusWrite(node, seq: 12, WorkflowValue(status: .closed, round: status.round), base: heads)])
        #expect(close.first?.rejection?.code == .notAuthorized || close.first?.rejection?.code == .illegalTransition)
        let nowhere = try await node.push([statusWrite(node, seq: 13, WorkflowValue(status: .verifying, round: status.round), base: [ChangeID(origin: node.replica, seq: 77)])])
        #expect(nowhere.first?.rejection?.code == .illegalTransition, "a base the county does not hold is no 'from'")
        // The legal next step is accepted, and the case moves at the county.
        let legal = try await node.push([statusWrite(node, seq: 14, WorkflowValue(status: .verifying, round: status.round), base: heads)])
        #expect(legal.first?.outcome == .accepted, "\(legal)")
        let atHub = try #require(try world.store("hub.sqlite").read { try $0.recordState(reported.key) })
        #expect(atHub.materialized["status"] == .string("verifying"))
        #expect(atHub.materialized["round"] == .number(1), "\(atHub.materialized)")
    }
}
