import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

/// A small county at the hub: three villages laid side by side (two in township 001, one in 004),
/// each with a boundary and a field chief, recorded as hub changes.
func seedVillages(_ hub: RunningHub) throws {
    let engine = SyncEngine()
    let cells: [(String, Double)] = [("371312001201", 118.30), ("371312001202", 118.31), ("371312004201", 118.32)]
    try hub.store.write { tx in
        for (code, west) in cells {
            let division = Division(
                code: try DivisionCode(code), name: "村\(code.suffix(3))", synthetic: true,
                boundary: BoundingBox(minLongitude: west, minLatitude: 35.00, maxLongitude: west + 0.01, maxLatitude: 35.01).polygon)
            var fields: [String: FieldOperation] = [:]
            for (key, value) in JSONValue(encoding: division).objectValue ?? [:] { fields[key] = .set(value) }
            try engine.record(Draft(type: .division, id: code, scope: division.code, author: "dispatcher", fields: fields), physicalNow: hub.now, in: tx)
            try engine.record(Draft(type: .fieldChief, id: "chief-\(code)", scope: division.code, author: "dispatcher", fields: [
                "name": .set("王强"), "division": .set(.string(code)),
            ]), physicalNow: hub.now, in: tx)
        }
        // One parcel in 371312001201, under the good alert of the tests; one beside it.
        for (serial, west) in [(1, 118.306), (2, 118.301)] {
            let parcel = Parcel(
                id: try RecordID("371312001201-000\(serial)"), village: try DivisionCode("371312001201"), landClass: "0102", areaMu: 15,
                isPermanentBasicFarmland: true, fieldChief: "chief-371312001201",
                geometry: BoundingBox(minLongitude: west, minLatitude: 35.0045, maxLongitude: west + 0.001, maxLatitude: 35.0055).polygon)
            var fields: [String: FieldOperation] = [:]
            for (key, value) in JSONValue(encoding: parcel).objectValue ?? [:] where key != "id" { fields[key] = .set(value) }
            try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "dispatcher", fields: fields), physicalNow: hub.now, in: tx)
        }
    }
}

/// A rectangle as a GeoJSON Polygon's coordinates.
func rectangle(_ west: Double, _ south: Double, _ east: Double, _ north: Double) -> [[[Double]]] {
    [[[west, south], [east, south], [east, north], [west, north], [west, south]]]
}

@Suite("Alert intake over HTTP", .serialized)
struct AlertIntakeTests {
    let seen: Int64 = 1_763_880_000_000

    func alert(_ id: String, geometry: [String: Any], source: String = "towerCamera") throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "source": source, "externalID": id, "at": seen, "geometry": geometry, "note": "塔 07 发现动土",
        ] as [String: Any])
    }

    @Test("a good alert makes a case and four tasks; the same alert again makes nothing; every bad alert gets its code")
    func intake() async throws {
        let hub = try await RunningHub()
        try seedVillages(hub)
        let secret = try hub.store.enrolIntake(device: "tower-07", now: hub.now)
        // Mostly in 371312001201, a strip in 371312001202.
        let good = try alert("evt-1", geometry: ["type": "Polygon", "coordinates": rectangle(118.305, 35.004, 118.312, 35.006)])
        var (status, body) = try await hub.post("/v1/alerts", body: good, credential: secret)
        #expect(status == 201, "\(body)")
        let caseID = try #require(body["caseID"] as? String)
        #expect(body["township"] as? String == "371312001" && body["village"] as? String == "371312001201")
        #expect(body["duplicate"] as? Bool == false)
        let placement = try #require(body["placement"] as? [String: Any])
        let villages = try #require(placement["villages"] as? [[String: Any]])
        #expect(villages.map { $0["village"] as? String } == ["371312001201", "371312001202"])
        #expect(placement["parcels"] as? [String] == ["371312001201-0001"], "the parcel under the alert, not the one beside it")
        let taskIDs = try #require(body["taskIDs"] as? [String])
        #expect(taskIDs.count == 4)
        let record = try #require(try hub.store.enforcementCase(caseID))
        #expect(record.source == .towerCamera && record.status == .reported && record.discoveredAt.milliseconds == seen)
        #expect(record.summary == "塔 07 发现动土" && record.affectedAreaMu > 0)
        #expect(record.parcelIDs.map(\.rawValue) == ["371312001201-0001"])
        var recipients: [TaskRecipient: String] = [:]
        for id in taskIDs {
            let task = try #require(try hub.store.task(id))
            #expect(task.deadlines == ThreeOnesDeadlines(discoveredAt: Timestamp(milliseconds: seen)))
            #expect(task.village?.rawValue == "371312001201")
            recipients[task.recipient] = task.assignee
        }
        // The three-ones clocks run from discovery: an hour and a minute later the case is past its
        // report and on-site deadlines; it is not at 59 minutes.
        let discovered = Timestamp(milliseconds: seen)
        #expect(try hub.store.casesPastDeadline(at: discovered.adding(minutes: 61)).map(\.id.rawValue) == [caseID])
        #expect(try hub.store.casesPastDeadline(at: discovered.adding(minutes: 59)).isEmpty)
        #expect(recipients == [.fieldChief: "chief-371312001201", .townshipOffice: "office-371312001", .townshipGovernment: "government-371312001", .enforcementSquad: "squad-371312001"])

        // The same alert twice: one case; the answer names the first case.
        (status, body) = try await hub.post("/v1/alerts", body: good, credential: secret)
        #expect(status == 200 && body["duplicate"] as? Bool == true && body["caseID"] as? String == caseID)
        #expect(body["taskIDs"] as? [String] == taskIDs)
        #expect(try hub.store.summary().cases == 1 && hub.store.summary().tasks == 4)

        // A camera's point sighting lands in the village holding it.
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-2", geometry: ["type": "Point", "coordinates": [118.325, 35.005]]), credential: secret)
        #expect(status == 201 && body["village"] as? String == "371312004201" && body["township"] as? String == "371312004")

        // Outside the county, a LineString, a self-intersecting polygon.
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-3", geometry: ["type": "Polygon", "coordinates": rectangle(120.0, 30.0, 120.01, 30.01)]), credential: secret)
        #expect(status == 422 && errorCode(body) == "outside_county" && errorField(body) == "geometry")
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-4", geometry: ["type": "LineString", "coordinates": [[118.301, 35.001], [118.302, 35.002]]]), credential: secret)
        #expect(status == 422 && errorCode(body) == "not_a_polygon" && errorField(body) == "geometry.type")
        let bowtie: [[[Double]]] = [[[118.301, 35.001], [118.303, 35.003], [118.303, 35.001], [118.301, 35.003], [118.301, 35.001]]]
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-5", geometry: ["type": "Polygon", "coordinates": bowtie]), credential: secret)
        #expect(status == 422 && errorCode(body) == "invalid_geometry" && errorField(body) == "geometry.rings[0]")
        #expect((body["error"] as? [String: Any])?["message"] as? String == "Ring 0 self-intersects: segment 0 meets segment 2.")
        // Over the geometry limits (65 rings; at most 64): refused before any geometric work. Not JSON: 415.
        let square: (Double, Double) -> [[Double]] = { x, y in [[x, y], [x + 0.0001, y], [x + 0.0001, y + 0.0001], [x, y + 0.0001], [x, y]] }
        let manyRings = [square(118.301, 35.001)] + (0..<64).map { square(118.3011 + Double($0) * 1e-6, 35.0011) }
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-5b", geometry: ["type": "Polygon", "coordinates": manyRings]), credential: secret)
        #expect(status == 422 && errorCode(body) == "geometry_too_large" && errorField(body) == "geometry.coordinates", "\(body)")
        (status, body) = try await hub.post("/v1/alerts", body: good, credential: secret, headers: ["Content-Type": "text/plain"])
        #expect(status == 415 && errorCode(body) == "unsupported_media_type", "\(body)")

        // Malformed JSON, a missing member, an unknown source.
        (status, body) = try await hub.post("/v1/alerts", body: Data("{\"source\": \"drone\", ".utf8), credential: secret)
        #expect(status == 400 && errorCode(body) == "malformed_json")
        (status, body) = try await hub.post("/v1/alerts", body: Data(#"{"source":"drone","at":1763880000000,"geometry":{"type":"Point","coordinates":[118.3,35]}}"#.utf8), credential: secret)
        #expect(status == 400 && errorCode(body) == "malformed_json" && errorField(body) == "externalID")
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-6", geometry: ["type": "Point", "coordinates": [118.305, 35.005]], source: "kite"), credential: secret)
        #expect(status == 400 && errorCode(body) == "malformed_json" && errorField(body) == "source")

        // An empty external id; a time an hour ahead of the hub's clock.
        (status, body) = try await hub.post("/v1/alerts", body: try alert("", geometry: ["type": "Point", "coordinates": [118.305, 35.005]]), credential: secret)
        #expect(status == 422 && errorCode(body) == "invalid_value" && errorField(body) == "externalID")
        let ahead = try JSONSerialization.data(withJSONObject: [
            "source": "drone", "externalID": "evt-8", "at": hub.now + 3_600_000, "geometry": ["type": "Point", "coordinates": [118.305, 35.005]],
        ] as [String: Any])
        (status, body) = try await hub.post("/v1/alerts", body: ahead, credential: secret)
        #expect(status == 422 && errorCode(body) == "invalid_value" && errorField(body) == "at")

        // No credential, a wrong one, and a township's sync credential (not county-wide).
        (status, body) = try await hub.post("/v1/alerts", body: good, credential: nil)
        #expect(status == 401 && errorCode(body) == "unknown_credential")
        (status, body) = try await hub.post("/v1/alerts", body: good, credential: "tz_wrong")
        #expect(status == 401 && errorCode(body) == "unknown_credential")
        let township = try hub.store.enrol(try ReplicaID("node:371312001"), jurisdiction: .township(try DivisionCode("371312001")), now: hub.now)
        (status, body) = try await hub.post("/v1/alerts", body: good, credential: township)
        #expect(status == 403 && errorCode(body) == "not_authorized")
        // An intake credential is no sync credential.
        (status, body) = try await hub.post("/v1/pull", body: try hub.json(PullRequest(puller: try ReplicaID("node:371312001"), after: 0, limit: 10)), credential: secret)
        #expect(status == 401 && errorCode(body) == "unknown_credential")

        // A revoked intake credential.
        #expect(try hub.store.revokeIntake(device: "tower-07") == 1)
        (status, body) = try await hub.post("/v1/alerts", body: try alert("evt-7", geometry: ["type": "Point", "coordinates": [118.305, 35.005]]), credential: secret)
        #expect(status == 401 && errorCode(body) == "revoked_credential")

        // Nothing refused left a trace: two cases, eight tasks.
        let summary = try hub.store.summary()
        #expect(summary.cases == 2 && summary.tasks == 8)
    }

    @Test("a township node that syncs receives its alert's case and four tasks, and not another township's")
    func nodeReceivesDispatch() async throws {
        let hub = try await RunningHub()
        try seedVillages(hub)
        let intake = try hub.store.enrolIntake(device: "drone-station-2", now: hub.now)
        var (status, body) = try await hub.post("/v1/alerts", body: try alert("flight-9", geometry: ["type": "MultiPolygon", "coordinates": [rectangle(118.311, 35.002, 118.313, 35.004), rectangle(118.315, 35.006, 118.316, 35.007)]], source: "drone"), credential: intake)
        #expect(status == 201, "\(body)")
        let caseID = try #require(body["caseID"] as? String)
        let taskIDs = try #require(body["taskIDs"] as? [String])
        (status, body) = try await hub.post("/v1/alerts", body: try alert("flight-10", geometry: ["type": "Point", "coordinates": [118.325, 35.005]], source: "drone"), credential: intake)
        let otherCase = try #require(body["caseID"] as? String)

        let node = try ReplicaID("node:371312001"), township = try DivisionCode("371312001")
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let nodeStore = try SQLiteReplicaStore(path: folder.appendingPathComponent("node.sqlite").path)
        let engine = SyncEngine()
        try nodeStore.write { tx in _ = try engine.open(replica: node, jurisdiction: .township(township), credential: secret, in: tx) }
        let runner = SyncRunner(store: nodeStore, engine: engine, client: SyncClient(baseURL: hub.url, credential: secret), replica: node, clock: { hub.now })
        let report = try await runner.sync()
        #expect(report.rejected.isEmpty)
        let record = try #require(try nodeStore.enforcementCase(caseID))
        #expect(record.source == .drone && record.village?.rawValue == "371312001202" && record.discoveredAt.milliseconds == seen)
        for id in taskIDs {
            let task = try #require(try nodeStore.task(id))
            #expect(task.caseID.rawValue == caseID && task.deadlines.restoreBy.milliseconds == seen + 24 * 3_600_000)
        }
        #expect(try nodeStore.openTasks(for: "chief-371312001202").map(\.caseID.rawValue) == [caseID])
        #expect(try nodeStore.enforcementCase(otherCase) == nil, "another township's case stays away")
        let nodeDigest = try nodeStore.read { try engine.digest(of: .township(township), in: $0) }
        let hubDigest = try hub.store.read { try engine.digest(of: .township(township), in: $0) }
        #expect(nodeDigest == hubDigest)

        // The village's field chief's device, syncing with the hub, gets the case and its tasks too.
        let patrol = try ReplicaID("patrol:chief-371312001202"), village = try DivisionCode("371312001202")
        let patrolSecret = try hub.store.enrol(patrol, jurisdiction: .villages([village]), now: hub.now)
        let patrolStore = try SQLiteReplicaStore(path: folder.appendingPathComponent("patrol.sqlite").path)
        try patrolStore.write { tx in _ = try engine.open(replica: patrol, jurisdiction: .villages([village]), credential: patrolSecret, in: tx) }
        let patrolRunner = SyncRunner(store: patrolStore, engine: engine, client: SyncClient(baseURL: hub.url, credential: patrolSecret), replica: patrol, clock: { hub.now })
        _ = try await patrolRunner.sync()
        #expect(try patrolStore.enforcementCase(caseID)?.status == .reported)
        #expect(try patrolStore.openTasks(for: "chief-371312001202").map(\.id.rawValue) == [taskIDs[3]])
        #expect(try patrolStore.summary().tasks == 4)
    }

    @Test("the same new alert posted five times at once makes one case: one 201, four 200 naming it")
    func concurrentRepeats() async throws {
        let hub = try await RunningHub()
        try seedVillages(hub)
        let secret = try hub.store.enrolIntake(device: "tower-07", now: hub.now)
        let body = try alert("evt-burst", geometry: ["type": "Polygon", "coordinates": rectangle(118.301, 35.001, 118.303, 35.003)])
        let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<5 {
                group.addTask {
                    let (status, json) = try await hub.post("/v1/alerts", body: body, credential: secret)
                    return (status, json["caseID"] as? String)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.map(\.0).sorted() == [200, 200, 200, 200, 201])
        #expect(Set(answers.map(\.1)).count == 1 && answers[0].1 != nil)
        let summary = try hub.store.summary()
        #expect(summary.cases == 1 && summary.tasks == 4 && summary.changes == 3 + 3 + 2 + 5, "divisions, chiefs, parcels, one case and its four tasks")
    }

    @Test("the protocol's alert vectors decode as the hub reads them")
    func vectors() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let folder = root.appendingPathComponent("Protocol/vectors/alerts")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("alert-request") }.sorted()
        #expect(files.count == 2)
        for file in files {
            let vector = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(file))) as? [String: Any])
            let body = try JSONSerialization.data(withJSONObject: try #require(vector["json"]))
            let request = try Wire.decode(HubServer.AlertRequest.self, from: body)
            #expect(request.at == 1_763_880_000_000, "\(file)")
        }
        let response = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("alert-response.json"))) as? [String: Any])
        let decoded = try JSONDecoder().decode(HubServer.AlertResponse.self, from: try JSONSerialization.data(withJSONObject: try #require(response["json"])))
        #expect(decoded.taskIDs.count == 4 && decoded.placement?.villages.count == 2)
    }
}
