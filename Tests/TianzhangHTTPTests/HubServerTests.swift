import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

/// A real hub on a loopback port for one test.
final class RunningHub: Sendable {
    let store: SQLiteReplicaStore
    let url: URL
    let task: Task<Void, any Error>
    let county = try! DivisionCode("371312")
    let now: Int64 = 1_763_884_800_000

    /// - Parameter tls: serve https with this identity (the URL is then https).
    init(tls: HubServer.TLSFiles? = nil) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        store = try SQLiteReplicaStore(path: folder.appendingPathComponent("hub.sqlite").path)
        var configuration = HubServer.Configuration(port: 0)
        configuration.limits = ProtocolLimits(batchChangesMax: 50, batchBytesMax: 64 * 1024, pageChangesMax: 100)
        configuration.tls = tls
        let fixed = now
        let server = try HubServer(store: store, engine: SyncEngine(), county: county, configuration: configuration, clock: { fixed })
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        task = Task { try await server.run { continuation.yield($0) } }
        var port = 0
        for await bound in ports { port = bound; break }
        url = URL(string: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)")!
    }

    deinit { task.cancel() }

    /// Sends raw bytes (as `Content-Type: application/json` unless `headers` say otherwise) and returns
    /// the status and the decoded JSON body.
    func post(_ path: String, body: Data, credential: String?, headers: [String: String] = [:]) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: url.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let credential { request.setValue("Bearer \(credential)", forHTTPHeaderField: "Authorization") }
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return ((response as! HTTPURLResponse).statusCode, json)
    }

    func json(_ value: some Encodable) throws -> Data { try Wire.encoder.encode(value) }
}

/// A change signed as the holder of `credential` signs it (SPEC §2.7).
func signed(_ change: Change, _ credential: String) -> Change {
    var change = change
    ChangeSigning.sign(&change, seed: ChangeSigning.seed(fromCredential: credential))
    return change
}

func errorCode(_ body: [String: Any]) -> String? { (body["error"] as? [String: Any])?["code"] as? String }
func errorField(_ body: [String: Any]) -> String? { (body["error"] as? [String: Any])?["field"] as? String }

@Suite("Hub over HTTP", .serialized)
struct HubServerTests {
    let node = try! ReplicaID("node:371312001")
    let township = try! DivisionCode("371312001")

    func newCase(_ seq: UInt64, village: String = "371312001201", id: String = "01JD0000000000000000000001") -> Change {
        let scope = try! DivisionCode(village)
        return Change(
            id: ChangeID(origin: node, seq: seq), recordType: .enforcementCase, recordID: id, scope: scope, hlc: HLC(wall: 1_763_884_800_000),
            author: "clerk", fields: [
                "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
                "township": .set(.string(scope.township!.rawValue)), "village": .set(.string(village)), "discoveredAt": .set(1_763_884_800_000),
                "summary": .set("x"), "affectedAreaMu": .set(1), "status": .set(WorkflowValue(status: .reported, round: 1).json),
            ])
    }

    @Test("health and version answer without a credential")
    func healthAndVersion() async throws {
        let hub = try await RunningHub()
        let (data, response) = try await URLSession.shared.data(from: hub.url.appendingPathComponent("/version"))
        #expect((response as! HTTPURLResponse).statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self).contains("\"protocolVersions\":[1]"))
    }

    @Test("a change whose id cannot be read is refused in its place with invalid_identifier; the rest go in, nothing of it is kept")
    func unreadableChangeIDs() async throws {
        let hub = try await RunningHub()
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let good = try hub.json(PushRequest(sender: node, changes: [
            signed(newCase(1), secret), signed(newCase(2, id: "01JD0000000000000000000002"), secret),
        ]))
        var request = try #require(try JSONSerialization.jsonObject(with: good) as? [String: Any])
        var changes = try #require(request["changes"] as? [[String: Any]])
        var badOrigin = changes[0], seqZero = changes[0], seqText = changes[0]
        badOrigin["origin"] = "tractor:1"
        seqZero["seq"] = 0
        seqText["seq"] = "7"
        changes = [changes[0], badOrigin, seqZero, changes[1], seqText]
        request["changes"] = changes
        let body = try JSONSerialization.data(withJSONObject: request)
        for attempt in ["first", "retry"] {
            let (status, answer) = try await hub.post("/v1/push", body: body, credential: secret)
            #expect(status == 200, "\(attempt): \(answer)")
            let results = try #require(answer["results"] as? [[String: Any]])
            let taken = attempt == "first" ? "accepted" : "duplicate"
            #expect(results.map { $0["outcome"] as? String } == [taken, "rejected", "rejected", taken, "rejected"], "\(attempt)")
            #expect(results.map { $0["id"] as? String } == ["node:371312001/1", "tractor:1/1", "node:371312001/0", "node:371312001/2", "node:371312001/\"7\""])
            let refusals = results.compactMap { $0["rejection"] as? [String: Any] }
            #expect(refusals.map { $0["code"] as? String } == Array(repeating: "invalid_identifier", count: 3))
            #expect(refusals.map { $0["field"] as? String } == ["origin", "seq", "seq"])
        }
        // The log holds the two readable changes once each, and nothing of the others.
        let logged = try hub.store.read { try $0.logPage(after: 0, in: .county(try DivisionCode("371312")), excluding: nil, limit: 100) }
            .entries.map(\.change.id.description).filter { $0.hasPrefix("node:") }
        #expect(logged == ["node:371312001/1", "node:371312001/2"])
        // A change that cannot be decoded for another reason still fails the whole request, naming where.
        var noType = changes[0]
        noType.removeValue(forKey: "type")
        request["changes"] = [changes[0], noType]
        let (status, answer) = try await hub.post("/v1/push", body: try JSONSerialization.data(withJSONObject: request), credential: secret)
        #expect(status == 400 && errorCode(answer) == "malformed_json" && errorField(answer) == "changes[1].type", "\(answer)")
    }

    @Test("every bad request gets its documented error code")
    func badRequests() async throws {
        let hub = try await RunningHub()
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let good = try hub.json(PushRequest(sender: node, changes: [signed(newCase(1), secret)]))
        // Unknown credential, and none at all.
        var (status, body) = try await hub.post("/v1/push", body: good, credential: "tz_wrong")
        #expect(status == 401 && errorCode(body) == "unknown_credential")
        (status, body) = try await hub.post("/v1/push", body: good, credential: nil)
        #expect(status == 401 && errorCode(body) == "unknown_credential")
        // Malformed JSON, and a well-formed body missing a member: the field is named.
        (status, body) = try await hub.post("/v1/push", body: Data("{\"protocolVersion\": 1, \"sender\": ".utf8), credential: secret)
        #expect(status == 400 && errorCode(body) == "malformed_json")
        (status, body) = try await hub.post("/v1/push", body: Data(#"{"protocolVersion":1,"sender":"node:371312001","changes":[{"origin":"node:371312001","seq":1}]}"#.utf8), credential: secret)
        #expect(status == 400 && errorCode(body) == "malformed_json" && errorField(body) == "changes[0].type")
        // A protocol version the hub does not speak.
        (status, body) = try await hub.post("/v1/push", body: try hub.json(PushRequest(protocolVersion: 9, sender: node, changes: [])), credential: secret)
        #expect(status == 400 && errorCode(body) == "unsupported_protocol_version" && errorField(body) == "protocolVersion")
        // Another replica's name with this credential.
        (status, body) = try await hub.post("/v1/push", body: try hub.json(PushRequest(sender: try ReplicaID("node:371312004"), changes: [])), credential: secret)
        #expect(status == 403 && errorCode(body) == "replica_mismatch")
        // An oversized body (the test hub allows 64 KiB).
        (status, body) = try await hub.post("/v1/push", body: Data(repeating: 0x20, count: 200 * 1024), credential: secret)
        #expect(status == 413 && errorCode(body) == "body_too_large")
        // A truncated gzip body.
        let zipped = try Wire.gzip(good)
        (status, body) = try await hub.post("/v1/push", body: zipped.prefix(zipped.count / 2), credential: secret, headers: ["Content-Encoding": "gzip"])
        #expect(status == 400 && errorCode(body) == "bad_gzip")
        // A complete gzip body is accepted; an out-of-scope write is refused per change, the rest go in.
        let mixed = try hub.json(PushRequest(sender: node, changes: [
            signed(newCase(1), secret), signed(newCase(2, village: "371312004201", id: "01JD0000000000000000000002"), secret),
        ]))
        (status, body) = try await hub.post("/v1/push", body: try Wire.gzip(mixed), credential: secret, headers: ["Content-Encoding": "gzip"])
        #expect(status == 200)
        let results = try #require(body["results"] as? [[String: Any]])
        #expect(results.map { $0["outcome"] as? String } == ["accepted", "rejected"])
        #expect((results[1]["rejection"] as? [String: Any])?["code"] as? String == "outside_jurisdiction")
        // Revoked: refused with its own code.
        try hub.store.revoke(node, now: hub.now)
        (status, body) = try await hub.post("/v1/push", body: good, credential: secret)
        #expect(status == 401 && errorCode(body) == "revoked_credential")
    }

    @Test("bodies are JSON in UTF-8: text/plain, a form, no Content-Type or a UTF-16 charset are 415 unsupported_media_type; UTF-16 or BOM bytes are 400 unsupported_encoding; application/json with charset=utf-8 is taken")
    func contentTypeAndEncoding() async throws {
        let hub = try await RunningHub()
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let good = try hub.json(PushRequest(sender: node, changes: [signed(newCase(1), secret)]))
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/jsonx", ""] {
            let (status, body) = try await hub.post("/v1/push", body: good, credential: secret, headers: ["Content-Type": type])
            #expect(status == 415 && errorCode(body) == "unsupported_media_type", "\(type): \(status) \(body)")
        }
        let text = String(decoding: good, as: UTF8.self)
        var utf16 = Data([0xFF, 0xFE])
        utf16.append(text.data(using: .utf16LittleEndian)!)
        for bytes in [utf16, text.data(using: .utf16BigEndian)!, Data([0xEF, 0xBB, 0xBF]) + good] {
            let (status, body) = try await hub.post("/v1/push", body: bytes, credential: secret)
            #expect(status == 400 && errorCode(body) == "unsupported_encoding", "\(status) \(body)")
        }
        let (status, body) = try await hub.post("/v1/push", body: good, credential: secret, headers: ["Content-Type": "Application/JSON; Charset=UTF-8"])
        #expect(status == 200, "\(body)")
        #expect((body["results"] as? [[String: Any]])?.first?["outcome"] as? String == "accepted")
    }

    @Test("a node bootstraps, edits offline and syncs over HTTP with gzip; the hub and the node end with the same digest")
    func syncOverHTTP() async throws {
        let hub = try await RunningHub()
        // The county has a case in the township and one in another township.
        try hub.store.write { tx in
            let engine = SyncEngine()
            let hubID = try ReplicaID("hub:371312")
            var change = newCase(1)
            _ = try engine.record(Draft(type: .enforcementCase, id: change.recordID, scope: change.scope, author: "dispatcher", fields: change.fields), physicalNow: hub.now, in: tx)
            change = newCase(2, village: "371312004201", id: "01JD0000000000000000000009")
            _ = try engine.record(Draft(type: .enforcementCase, id: change.recordID, scope: change.scope, author: "dispatcher", fields: change.fields), physicalNow: hub.now, in: tx)
            _ = hubID
        }
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let nodeStore = try SQLiteReplicaStore(path: folder.appendingPathComponent("node.sqlite").path)
        let client = SyncClient(baseURL: hub.url, credential: secret)
        let hello = try await client.hello(HelloRequest(replica: node))
        #expect(hello.jurisdiction == .township(township))
        let engine = SyncEngine()
        try nodeStore.write { tx in _ = try engine.open(replica: node, jurisdiction: hello.jurisdiction, credential: secret, in: tx) }
        let runner = SyncRunner(store: nodeStore, engine: engine, client: client, replica: node, clock: { 1_763_884_800_000 })
        let first = try await runner.sync()
        #expect(first.received == 1, "only the township's own case comes down")
        try nodeStore.write { tx in
            _ = try engine.record(Draft(type: .enforcementCase, id: "01JD0000000000000000000001", scope: try DivisionCode("371312001201"), author: "clerk",
                                        fields: ["status": .set(WorkflowValue(status: .verifying, round: 1).json)]), physicalNow: 1_763_884_801_000, in: tx)
        }
        let second = try await runner.sync()
        #expect(second.sent == 1 && second.accepted == 1)
        let nodeDigest = try nodeStore.read { try engine.digest(of: .township(township), in: $0) }
        let hubDigest = try hub.store.read { try engine.digest(of: .township(township), in: $0) }
        #expect(nodeDigest == hubDigest)
        #expect(try nodeStore.summary().pendingChanges == 0)
        #expect(try hub.store.enforcementCase("01JD0000000000000000000001")?.status == .verifying)
    }
}
