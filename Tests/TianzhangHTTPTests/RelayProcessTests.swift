import Foundation
import Testing
import TianzhangTestGate
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync
import TianzhangTesting

/// The real `tianzhang` executable (built with the tests), for hub and node processes on loopback.
enum Tool {
    static let binary = ToolProcess.tianzhang(testFile: #filePath)

    typealias Result = ToolProcess.Result

    static func run(_ arguments: [String], in folder: URL) throws -> Result { try ToolProcess.run(binary, arguments, in: folder) }

    /// Starts a server process with `--port 0 --port-file F` and waits until it has written its port.
    static func serve(_ arguments: [String], in folder: URL) throws -> (process: ChildProcess, port: Int) {
        let portFile = folder.appendingPathComponent("port-\(UUID().uuidString)")
        let process = try ChildProcess(binary.path, arguments + ["--port", "0", "--port-file", portFile.path], in: folder)
        var text = ""
        // Polls the file the server writes once it listens (its only readiness signal), for up to 20 s.
        for _ in 0..<400 where text.isEmpty && process.isRunning {
            text = (try? String(contentsOf: portFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if text.isEmpty { Thread.sleep(forTimeInterval: 0.05) }
        }
        return (process, Int(text) ?? 0)
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-relay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A county hub process and township node processes, one seeded county, and the helpers the tests share.
final class RelayWorld {
    let folder: URL
    let county = try! DivisionCode("371312")
    let hubProcess: ChildProcess
    let hubPort: Int
    var servers: [ChildProcess] = []

    init() throws {
        folder = try Tool.folder()
        let seeded = try Tool.run(["seed", "--county", "371312", "--parcels", "60-80", "--hub", "hub.sqlite"], in: folder)
        #expect(seeded.status == 0, "\(seeded.error)")
        (hubProcess, hubPort) = try Tool.serve(["hub", "serve", "--store", "hub.sqlite", "--county", "371312"], in: folder)
        #expect(hubPort > 0, "the hub never reported its port")
    }

    deinit {
        for process in servers + [hubProcess] { process.stop(SIGTERM) }
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Issues a credential at the hub (`hub enrol`); returns the secret.
    func enrol(_ replica: String, _ scope: [String]) throws -> String {
        let result = try Tool.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", replica] + scope, in: folder)
        #expect(result.status == 0, "\(result.error)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Enrols, initialises and bootstraps a township node (`node init`, `node sync`).
    func node(_ township: String) throws {
        let secret = try enrol("node:\(township)", ["--township", township])
        let initialized = try Tool.run(["node", "init", "--store", "\(township).sqlite", "--hub", "http://127.0.0.1:\(hubPort)", "--credential", secret, "--replica", "node:\(township)"], in: folder)
        #expect(initialized.status == 0, "\(initialized.error)")
        try sync(township)
    }

    /// `node sync` as a process; returns its JSON report.
    @discardableResult
    func sync(_ township: String) throws -> [String: Any] {
        let result = try Tool.run(["node", "sync", "--store", "\(township).sqlite", "--json"], in: folder)
        #expect(result.status == 0, "\(result.error)")
        return (try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]) ?? [:]
    }

    /// Starts `node serve` for a township's node; returns its address.
    func serve(_ township: String) throws -> URL {
        let (process, port) = try Tool.serve(["node", "serve", "--store", "\(township).sqlite"], in: folder)
        servers.append(process)
        #expect(port > 0, "node \(township) never reported its port")
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    func store(_ name: String) throws -> SQLiteReplicaStore { try SQLiteReplicaStore(path: path(name)) }

    /// The villages of a township that hold parcels at the hub, in code order.
    func villages(of township: String) throws -> [DivisionCode] {
        let states = try store("hub.sqlite").read { try $0.recordStates(in: .township(try DivisionCode(township))) }
        return Set(states.filter { $0.key.type == .parcel }.map(\.scope)).sorted()
    }

    /// The digest of `jurisdiction` at a store and at the hub.
    func digests(_ storeName: String) throws -> (own: String, hub: String, jurisdiction: Jurisdiction) {
        let store = try store(storeName)
        let engine = SyncEngine()
        let meta = try #require(try store.read { try $0.meta() })
        let own = try store.read { try engine.digest(of: meta.jurisdiction, in: $0) }
        let hub = try self.store("hub.sqlite").read { try engine.digest(of: meta.jurisdiction, in: $0) }
        return (own, hub, meta.jurisdiction)
    }
}

/// A patrol device driven in-process by the sync runner, against a node's port, on its own store.
struct Patrol {
    let replica: ReplicaID
    let store: SQLiteReplicaStore
    let runner: SyncRunner
    let engine = SyncEngine()

    init(_ name: String, secret: String, node: URL, folder: URL) async throws {
        let replica = try ReplicaID("patrol:\(name)")
        let store = try SQLiteReplicaStore(path: folder.appendingPathComponent("\(name).sqlite").path)
        let client = SyncClient(baseURL: node, credential: secret)
        let hello = try await client.hello(HelloRequest(replica: replica))
        let engine = SyncEngine()
        try store.write { tx in _ = try engine.open(replica: replica, jurisdiction: hello.jurisdiction, credential: secret, in: tx) }
        self.replica = replica
        self.store = store
        var runner = SyncRunner(store: store, engine: engine, client: client, replica: replica)
        runner.retriesMax = 2
        self.runner = runner
    }

    /// Records a check-in at a parcel, offline (nothing is sent).
    func checkIn(parcel: String, village: DivisionCode, note: String) throws -> Change {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let draft = try checkInChange(origin: replica, seq: 1, parcel: parcel, village: village, note: note, at: now)
        return try store.write { tx in
            try engine.record(Draft(type: .checkIn, id: draft.recordID, scope: village, author: replica.rawValue, fields: draft.fields), physicalNow: now, in: tx)
        }
    }

    /// Every record the patrol holds, whatever its scope.
    func records() throws -> [RecordState] { try store.read { try $0.recordStates(in: .county(try DivisionCode("371312"))) } }

    func entry(_ id: ChangeID) throws -> LogEntry? { try store.read { try $0.logEntry(id) } }
}

@Suite("A node serves its patrols: real hub and node processes on loopback", .serialized, .blocksAThread)
struct RelayProcessTests {
    @Test("a patrol syncs through a node process: its check-in reaches the county with its origin, the receipt comes back, it holds only its villages, writes outside them are refused; revoked, it keeps only its undelivered work")
    func patrolThroughNode() async throws {
        let world = try RelayWorld()
        let township = "371312001"
        let villages = try world.villages(of: township)
        try #require(villages.count >= 2)
        let home = villages[0]
        let patrolSecret = try world.enrol("patrol:chief-1", ["--villages", home.rawValue])
        try world.node(township)
        let nodeURL = try world.serve(township)

        let patrol = try await Patrol("chief-1", secret: patrolSecret, node: nodeURL, folder: world.folder)
        let bootstrap = try await patrol.runner.syncInScope()
        #expect(bootstrap.received > 0)
        let held = try patrol.records()
        #expect(held.contains { $0.key.type == .parcel })
        #expect(held.allSatisfy { $0.scope == home }, "a patrol's pull never holds a record outside its villages: \(Set(held.map(\.scope)))")

        // A check-in recorded offline goes to the node, then with the node's sync to the county.
        let parcel = try #require(held.first { $0.key.type == .parcel }?.key.id)
        let checkIn = try patrol.checkIn(parcel: parcel, village: home, note: "巡田: 无异常")
        let pushed = try await patrol.runner.syncInScope()
        #expect(pushed.accepted == 1)
        #expect(try patrol.entry(checkIn.id)?.delivery == .forwarded)
        let atHubBefore = try world.store("hub.sqlite").read { try $0.logEntry(checkIn.id) }
        #expect(atHubBefore == nil, "nothing reaches the county before the node syncs")
        let relayed = try world.sync(township)
        #expect(relayed["accepted"] as? Int == 1, "\(relayed)")
        let atHub = try #require(try world.store("hub.sqlite").read { try $0.logEntry(checkIn.id) })
        #expect(atHub.change.origin == patrol.replica, "the hub holds the change with its original origin")
        #expect(atHub.change == checkIn)
        // The county's receipt travels down through the node to the patrol.
        let receipted = try await patrol.runner.syncInScope()
        #expect(receipted.confirmedAtCounty == 1)
        #expect(try patrol.entry(checkIn.id)?.delivery == .atCounty)
        #expect(try patrol.records().allSatisfy { $0.scope == home })

        // A write outside its villages is refused per change by the node, with the reason.
        let outside = villages[1]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var stray = Change(
            id: ChangeID(origin: patrol.replica, seq: 900), recordType: .checkIn, recordID: "01JD0000000000000000000900", scope: outside, hlc: HLC(wall: now),
            author: "chief-1", fields: checkIn.fields.merging(["village": .set(.string(outside.rawValue))]) { $1 })
        ChangeSigning.sign(&stray, seed: try #require(try patrol.store.read { try $0.meta() }?.signingSeed))
        let refused = try await SyncClient(baseURL: nodeURL, credential: patrolSecret).push(PushRequest(sender: patrol.replica, changes: [stray]))
        #expect(refused.results.map(\.outcome) == [.rejected])
        #expect(refused.results.first?.rejection?.code == .outsideJurisdiction)
        #expect(refused.results.first?.rejection?.field == "scope")
        // Another credential's replica id, or no credential: whole-request errors with their codes.
        do {
            _ = try await SyncClient(baseURL: nodeURL, credential: "tz_not-a-credential").hello(HelloRequest(replica: patrol.replica))
            Issue.record("an unknown credential was accepted by the node")
        } catch {
            guard case .refused(let status, let body) = error else { throw error }
            #expect(status == 401 && body.code == "unknown_credential")
        }
        let someoneElse = try ReplicaID("patrol:someone-else")
        do {
            _ = try await SyncClient(baseURL: nodeURL, credential: patrolSecret).hello(HelloRequest(replica: someoneElse))
            Issue.record("a patrol's credential was accepted for another replica")
        } catch {
            guard case .refused(let status, let body) = error else { throw error }
            #expect(status == 403 && body.code == "replica_mismatch")
        }

        // Revoked at the county: the node learns it on its next sync; the patrol's next sync is refused,
        // and its store keeps only its own undelivered work.
        #expect(try Tool.run(["hub", "revoke", "--store", "hub.sqlite", "--replica", "patrol:chief-1"], in: world.folder).status == 0)
        try world.sync(township)
        let pending = try patrol.checkIn(parcel: parcel, village: home, note: "巡田: 发现动土")
        do {
            _ = try await patrol.runner.syncInScope()
            Issue.record("a revoked patrol was served")
        } catch let revoked as CredentialRevoked {
            #expect(revoked.code == "revoked_credential")
            #expect(revoked.removed.kept == 1)
            #expect(revoked.removed.records > 1)
        }
        let kept = try patrol.store.read { tx in try [Delivery.pending, .forwarded, .atCounty, .received, .rejected].flatMap { try tx.entries(delivery: $0) } }
        #expect(kept.map(\.change.id) == [pending.id], "only the undelivered check-in is left")
        #expect(try patrol.records().map(\.key) == [RecordKey(.checkIn, pending.recordID)])
        #expect(try patrol.store.undelivered().map(\.change) == [pending])
        #expect(try patrol.entry(checkIn.id) == nil, "the check-in the county holds was removed with the rest")
    }

    @Test("a village moves to another township: the old node removes its records on its next sync, the new node pulls them, both equal the hub for their new scopes")
    func villageMoves() async throws {
        let world = try RelayWorld()
        let (old, new) = ("371312001", "371312002")
        let village = try #require(try world.villages(of: old).last)
        let patrolSecret = try world.enrol("patrol:chief-3", ["--villages", village.rawValue])
        try world.node(old)
        try world.node(new)
        let oldURL = try world.serve(old), newURL = try world.serve(new)
        let patrolAtOld = try await Patrol("chief-3", secret: patrolSecret, node: oldURL, folder: world.folder)
        try await patrolAtOld.runner.syncInScope()
        #expect(!(try patrolAtOld.records().isEmpty))
        let before = try world.store("\(old).sqlite").read { try $0.recordStates(in: .villages([village])) }
        #expect(!before.isEmpty)
        #expect(try world.store("\(new).sqlite").read { try $0.recordStates(in: .villages([village])) }.isEmpty)

        let moved = try Tool.run(["hub", "move-village", village.rawValue, "--to", new, "--store", "hub.sqlite", "--json"], in: world.folder)
        #expect(moved.status == 0, "\(moved.error)")
        let move = try #require(try JSONSerialization.jsonObject(with: Data(moved.output.utf8)) as? [String: Any])
        #expect(Set(move["rebound"] as? [String] ?? []) == ["node:\(old)", "node:\(new)"])
        #expect(move["divisionUpdated"] as? Bool == true)
        let again = try Tool.run(["hub", "move-village", village.rawValue, "--to", new, "--store", "hub.sqlite"], in: world.folder)
        #expect(again.status != 0 && again.error.contains("already belongs"), "\(again.error)")

        try world.sync(old)
        try world.sync(new)
        let oldDigests = try world.digests("\(old).sqlite")
        #expect(oldDigests.jurisdiction == .adjustedTownship(try DivisionCode(old), added: [], removed: [village]))
        #expect(try world.store("\(old).sqlite").read { try $0.recordStates(in: .villages([village])) }.isEmpty, "the old node no longer holds the village")
        #expect(try world.store("\(old).sqlite").read { tx in try tx.entries(delivery: .received).filter { $0.change.scope == village } }.isEmpty)
        #expect(oldDigests.own == oldDigests.hub)

        let newDigests = try world.digests("\(new).sqlite")
        #expect(newDigests.jurisdiction == .adjustedTownship(try DivisionCode(new), added: [village], removed: []))
        let gained = try world.store("\(new).sqlite").read { try $0.recordStates(in: .villages([village])) }
        #expect(gained.map(\.key) == before.map(\.key), "the new node holds every record of the village")
        #expect(gained.first { $0.key == RecordKey(.division, village.rawValue) }?.materialized["township"] == .string(new))
        #expect(newDigests.own == newDigests.hub)

        // The patrol of the moved village: its enrolment record moved with the village, so the old node
        // no longer knows it and the new one serves it; it pulls the new node's log from the start.
        do {
            _ = try await SyncClient(baseURL: oldURL, credential: patrolSecret).hello(HelloRequest(replica: patrolAtOld.replica))
            Issue.record("the old node still serves a patrol of a village it no longer holds")
        } catch {
            guard case .refused(let status, let body) = error else { throw error }
            #expect(status == 401 && body.code == "unknown_credential")
        }
        let patrolAtNew = try await Patrol("chief-3", secret: patrolSecret, node: newURL, folder: world.folder)
        let switched = try await patrolAtNew.runner.syncInScope()
        #expect(switched.jurisdictionChanged == nil, "a patrol's villages do not change when a village moves")
        #expect(switched.received > 0, "the division record's new township, at least")
        let patrolDigests = try world.digests("chief-3.sqlite")
        #expect(patrolDigests.own == patrolDigests.hub)
        #expect(try patrolAtNew.records().first { $0.key == RecordKey(.division, village.rawValue) }?.materialized["township"] == .string(new))
    }

    @Test("a revoked node: its next sync is refused with revoked_credential, it removes everything it received and keeps its outbox (its own note and a patrol's relayed check-in), which node outbox still lists")
    func revokedNodeKeepsItsOutbox() async throws {
        let world = try RelayWorld()
        let township = "371312001"
        let home = try #require(try world.villages(of: township).first)
        let patrolSecret = try world.enrol("patrol:chief-2", ["--villages", home.rawValue])
        try world.node(township)
        let nodeURL = try world.serve(township)
        let patrol = try await Patrol("chief-2", secret: patrolSecret, node: nodeURL, folder: world.folder)
        try await patrol.runner.syncInScope()
        let parcel = try #require(try patrol.records().first { $0.key.type == .parcel }?.key.id)
        let checkIn = try patrol.checkIn(parcel: parcel, village: home, note: "巡田: 发现动土")
        #expect(try await patrol.runner.syncInScope().accepted == 1)
        let caseID = try #require(try world.store("\(township).sqlite").read { try $0.recordStates(in: .township(try DivisionCode(township))) }
            .first { $0.key.type == .enforcementCase }?.key.id)
        #expect(try Tool.run(["node", "note", "--store", "\(township).sqlite", caseID, "现场核查"], in: world.folder).status == 0)

        #expect(try Tool.run(["hub", "revoke", "--store", "hub.sqlite", "--replica", "node:\(township)"], in: world.folder).status == 0)
        let refused = try Tool.run(["node", "sync", "--store", "\(township).sqlite"], in: world.folder)
        #expect(refused.status != 0)
        #expect(refused.error.contains("revoked_credential") && refused.error.contains("kept 2 changes"), "\(refused.error)")

        let outbox = try Tool.run(["node", "outbox", "--store", "\(township).sqlite"], in: world.folder)
        #expect(outbox.status == 0, "\(outbox.error)")
        let lines = outbox.output.split(separator: "\n").compactMap { try? JSONDecoder().decode(LogEntry.self, from: Data($0.utf8)) }
        #expect(lines.count == 2)
        #expect(Set(lines.map(\.change.origin.rawValue)) == ["node:\(township)", patrol.replica.rawValue])
        #expect(lines.allSatisfy { $0.delivery == .pending })
        #expect(lines.contains { $0.change == checkIn }, "the patrol's relayed check-in is kept unchanged, with its origin")
        let node = try world.store("\(township).sqlite")
        let left = try node.read { try $0.recordStates(in: .county(try DivisionCode("371312"))) }
        #expect(Set(left.map(\.key.type)) == [.checkIn, .timelineEntry], "only the records of the kept changes remain")
        #expect(try node.summary().parcels == 0 && (try node.summary().cases) == 0)
        #expect(try Tool.run(["node", "status", "--store", "\(township).sqlite"], in: world.folder).output.contains("2 changes waiting"))
        // The node no longer holds the county's enrolment records either: its patrols are refused.
        do {
            _ = try await SyncClient(baseURL: nodeURL, credential: patrolSecret).hello(HelloRequest(replica: patrol.replica))
            Issue.record("a revoked node still served a patrol")
        } catch {
            guard case .refused(let status, let body) = error else { throw error }
            #expect(status == 401 && body.code == "unknown_credential")
        }
    }
}
