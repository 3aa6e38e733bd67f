import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TianzhangTestGate

@Suite("Command line: alerts", .serialized, .blocksAThread)
struct AlertImportCLITests {
    /// A feature of a patch file as the province sends it.
    func feature(_ id: Int?, geometry: [String: Any], date: String = "2023-07-04") -> [String: Any] {
        var properties: [String: Any] = ["tile_name": "51RUM", "chg_date": date, "chg_agent": "construction", "prob": 0.68, "area": 6300.0]
        if let id { properties["polygon_id"] = id }
        return ["type": "Feature", "properties": properties, "geometry": geometry]
    }

    func square(_ west: Double, _ south: Double, _ size: Double) -> [[[Double]]] {
        [[[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]]
    }

    @Test("seed --box then hub import-alerts: the placed patch has its case and four tasks, each bad feature its reason; a re-import adds nothing")
    func importAlerts() throws {
        let folder = try CLI.folder()
        let seed = try CLI.run(["seed", "--county", "371312", "--box", "118.0,35.0,119.1,35.9", "--parcels", "1-2", "--geojson", "parcels.geojson", "--hub", "hub.sqlite"], in: folder)
        #expect(seed.status == 0, "\(seed.error)")
        let bowtie: [[[Double]]] = [[[118.011, 35.011], [118.013, 35.013], [118.013, 35.011], [118.011, 35.013], [118.011, 35.011]]]
        let file: [String: Any] = ["type": "FeatureCollection", "features": [
            feature(1, geometry: ["type": "MultiPolygon", "coordinates": [square(118.01, 35.01, 0.001), square(118.02, 35.02, 0.0005)]]),
            feature(2, geometry: ["type": "Polygon", "coordinates": square(120.0, 30.0, 0.001)]),
            feature(3, geometry: ["type": "LineString", "coordinates": [[118.01, 35.01], [118.02, 35.02]]]),
            feature(4, geometry: ["type": "Polygon", "coordinates": bowtie]),
            feature(nil, geometry: ["type": "Polygon", "coordinates": square(118.03, 35.03, 0.001)]),
            feature(1, geometry: ["type": "Polygon", "coordinates": square(118.04, 35.04, 0.001)]),
            feature(5, geometry: ["type": "Polygon", "coordinates": square(118.05, 35.05, 0.001)], date: "July 2023"),
        ]]
        try JSONSerialization.data(withJSONObject: file).write(to: folder.appendingPathComponent("patches.geojson"))
        let first = try CLI.run(["hub", "import-alerts", "patches.geojson", "--store", "hub.sqlite", "--county", "371312", "--json"], in: folder)
        #expect(first.status == 0, "\(first.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(first.output.utf8)) as? [String: Any])
        #expect(report["features"] as? Int == 7 && report["created"] as? Int == 1 && report["alreadyPresent"] as? Int == 0)
        let refused = try #require(report["refused"] as? [[String: Any]])
        #expect(refused.map { $0["index"] as? Int } == [1, 2, 3, 4, 5, 6])
        #expect(refused.map { $0["code"] as? String } == ["outside_county", "not_a_polygon", "invalid_geometry", "missing_field", "invalid_identifier", "missing_field"])
        #expect(refused[2]["field"] as? String == "geometry.rings[0]")
        let placed = try #require((report["placed"] as? [[String: Any]])?.first)
        #expect(placed["externalID"] as? String == "51RUM-1" && (placed["villages"] as? [String])?.count == 1)

        var summary = try CLI.run(["summary", "--store", "hub.sqlite", "--json"], in: folder)
        var counts = try #require(try JSONSerialization.jsonObject(with: Data(summary.output.utf8)) as? [String: Any])
        #expect(counts["tasks"] as? Int == 4)
        let changes = counts["changes"] as? Int

        let again = try CLI.run(["hub", "import-alerts", "patches.geojson", "--store", "hub.sqlite", "--county", "371312"], in: folder)
        #expect(again.status == 0, "\(again.error)")
        #expect(again.output.hasPrefix("7 features: 0 new cases (4 tasks each), 1 already dispatched, 6 refused"))
        #expect(again.output.contains("feature 3 51RUM-4: invalid_geometry at geometry.rings[0]: Ring 0 self-intersects"))
        summary = try CLI.run(["summary", "--store", "hub.sqlite", "--json"], in: folder)
        counts = try #require(try JSONSerialization.jsonObject(with: Data(summary.output.utf8)) as? [String: Any])
        #expect(counts["tasks"] as? Int == 4 && counts["changes"] as? Int == changes)

        // A file that is no FeatureCollection: refused whole, nothing written.
        try Data(#"{"type": "Feature"}"#.utf8).write(to: folder.appendingPathComponent("bad.geojson"))
        let bad = try CLI.run(["hub", "import-alerts", "bad.geojson", "--store", "hub.sqlite", "--county", "371312"], in: folder)
        #expect(bad.status != 0 && bad.error.contains("not a GeoJSON FeatureCollection"))
        summary = try CLI.run(["summary", "--store", "hub.sqlite", "--json"], in: folder)
        counts = try #require(try JSONSerialization.jsonObject(with: Data(summary.output.utf8)) as? [String: Any])
        #expect(counts["changes"] as? Int == changes)

        // No store at all: refused with a sentence.
        let empty = try CLI.run(["hub", "import-alerts", "patches.geojson", "--store", "missing.sqlite", "--county", "371312"], in: folder)
        #expect(empty.status != 0 && empty.error.contains("No hub store at missing.sqlite"))
    }

    @Test("end to end with real processes: a tower camera posts to `hub serve`, the township node syncs and holds the case and its four tasks")
    func intakeToNode() async throws {
        let folder = try CLI.folder()
        let seed = try CLI.run(["seed", "--county", "371312", "--box", "118.0,35.0,119.1,35.9", "--parcels", "1-2", "--geojson", "parcels.geojson", "--hub", "hub.sqlite"], in: folder)
        #expect(seed.status == 0, "\(seed.error)")
        let secret = try CLI.run(["hub", "enrol-intake", "--store", "hub.sqlite", "--device", "tower-07"], in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.hasPrefix("tz_"))
        let hub = try HubProcess(folder: folder)
        defer { hub.kill() }
        #expect(hub.port > 0)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(hub.port)/v1/alerts")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        // A camera's sighting in the south-west village cell of the county's box (the first village of the first township).
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "source": "towerCamera", "externalID": "tower-07/1", "at": Int64(Date().timeIntervalSince1970 * 1000) - 60_000,
            "geometry": ["type": "Point", "coordinates": [118.005, 35.005]], "note": "动土",
        ] as [String: Any])
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 201, "\(String(decoding: data, as: UTF8.self))")
        let body = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let township = try #require(body["township"] as? String), caseID = try #require(body["caseID"] as? String)

        let enrol = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", "node:\(township)", "--township", township], in: folder)
        let nodeSecret = enrol.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let initialized = try CLI.run(["node", "init", "--store", "node.sqlite", "--hub", "http://127.0.0.1:\(hub.port)", "--credential", nodeSecret, "--replica", "node:\(township)"], in: folder)
        #expect(initialized.status == 0, "\(initialized.error)")
        let synced = try CLI.run(["node", "sync", "--store", "node.sqlite"], in: folder)
        #expect(synced.status == 0, "\(synced.error)")
        let node = folder.appendingPathComponent("node.sqlite")
        #expect(try sqlCount(node, "select count(*) from enforcement_case where id = '\(caseID)' and status = 'reported'") == 1)
        #expect(try sqlCount(node, "select count(distinct recipient) from verification_task where case_id = '\(caseID)' and status = 'open'") == 4)
    }
}
