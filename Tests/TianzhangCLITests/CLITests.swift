import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

/// Runs the real `tianzhang` executable (built with the tests) and checks its output and exit code.
enum CLI {
    static let binary = ToolProcess.tianzhang(testFile: #filePath)

    typealias Result = ToolProcess.Result

    static func run(_ arguments: [String], in folder: URL, environment: [String: String] = [:]) throws -> Result {
        try ToolProcess.run(binary, arguments, in: folder, extraEnvironment: environment)
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

@Suite("Command line", .serialized, .blocksAThread)
struct CLITests {
    @Test("seed 371312 writes every real township; the GeoJSON imports into a hub and re-imports as already present")
    func seedAndImport() throws {
        let folder = try CLI.folder()
        let seed = try CLI.run(["seed", "--county", "371312", "--geojson", "parcels.geojson"], in: folder)
        #expect(seed.status == 0, "\(seed.error)")
        #expect(seed.output.contains("河东区 371312: 11 townships (real codes)"))
        let data = try Data(contentsOf: folder.appendingPathComponent("parcels.geojson"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let features = try #require(json["features"] as? [[String: Any]])
        let townships = Set(features.map { (($0["properties"] as! [String: Any])["village"] as! String).prefix(9) })
        #expect(townships.count == 11)
        let first = try CLI.run(["hub", "import-parcels", "parcels.geojson", "--store", "hub.sqlite"], in: folder)
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.hasPrefix("imported \(features.count) parcels into hub.sqlite"))
        let again = try CLI.run(["hub", "import-parcels", "parcels.geojson", "--store", "hub.sqlite"], in: folder)
        #expect(again.output.contains("imported 0 parcels") && again.output.contains("\(features.count) already present"))
        let summary = try CLI.run(["summary", "--store", "hub.sqlite", "--json"], in: folder)
        let counts = try #require(try JSONSerialization.jsonObject(with: Data(summary.output.utf8)) as? [String: Any])
        #expect(counts["parcels"] as? Int == features.count)
        #expect(counts["changes"] as? Int == features.count, "each parcel recorded once, as a change that syncs")
    }

    @Test("a bad GeoJSON file gets a per-feature report; a file that is not GeoJSON fails clearly")
    func importReport() throws {
        let folder = try CLI.folder()
        let good: [String: Any] = ["type": "Feature", "properties": ["id": "371312001201-0001", "village": "371312001201", "landClass": "0101", "areaMu": 5.0],
                                   "geometry": ["type": "Polygon", "coordinates": [[[118.3, 35.0], [118.301, 35.0], [118.301, 35.001], [118.3, 35.001], [118.3, 35.0]]]]]
        var badClass = good
        badClass["properties"] = ["id": "371312001201-0002", "village": "371312001201", "landClass": "0199"]
        var line = good
        line["properties"] = ["id": "371312001201-0003", "village": "371312001201", "landClass": "0101"]
        line["geometry"] = ["type": "LineString", "coordinates": [[118.3, 35.0], [118.4, 35.1]]]
        let file = try JSONSerialization.data(withJSONObject: ["type": "FeatureCollection", "features": [good, badClass, line]])
        try file.write(to: folder.appendingPathComponent("mixed.geojson"))
        let result = try CLI.run(["hub", "import-parcels", "mixed.geojson", "--store", "hub.sqlite", "--json"], in: folder)
        #expect(result.status == 0, "\(result.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(report["imported"] as? Int == 1)
        let rejected = try #require(report["rejected"] as? [[String: Any]])
        #expect(rejected.map { $0["code"] as? String } == ["unknown_land_class", "invalid_geometry"])
        #expect(rejected.map { $0["index"] as? Int } == [1, 2])
        #expect((rejected[1]["message"] as? String)?.contains("LineString is not a Polygon") == true)
        try Data("not json".utf8).write(to: folder.appendingPathComponent("junk.geojson"))
        let junk = try CLI.run(["hub", "import-parcels", "junk.geojson", "--store", "hub.sqlite"], in: folder)
        #expect(junk.status != 0)
        #expect(junk.error.contains("not valid JSON"))
    }

    @Test("the demo runs end to end and every township converges with the hub")
    func demo() throws {
        let folder = try CLI.folder()
        let result = try CLI.run(["demo", "--dir", folder.path], in: folder)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("county hub listening on http://127.0.0.1:"))
        #expect(result.output.contains("changes over HTTP"))
        #expect(result.output.contains("/status (incompatible_decisions)"))
        #expect(result.output.contains("refused at once — hub_owned_field"))
        #expect(result.output.contains("RESOLVED case/"))
        #expect(result.output.contains("files a correction request") && result.output.contains("(the county's accepted correction)"))
        #expect(!result.output.contains("DIFFERENT"))
        #expect(result.output.components(separatedBy: "converged; outbox 0").count - 1 == 4)
        // The alert's four pushes, and the field chief's offline work relayed through the node.
        #expect(result.output.components(separatedBy: "  task → ").count - 1 == 4)
        #expect(result.output.contains("task → fieldChief"))
        #expect(result.output.contains("check-in at ") && result.output.contains("inside the parcel"))
        #expect(result.output.contains("origin patrol:chief-"))
        #expect(result.output.contains("photo verified, check-in present, task completed"))
        #expect(result.output.contains("everything confirmed at the county"))
    }

    @Test("a failing simulation seed is reported, and a good one converges")
    func simulate() throws {
        let result = try CLI.run(["simulate", "--seed", "3", "--count", "2"], in: try CLI.folder())
        #expect(result.status == 0)
        #expect(result.output.contains("seed 3: converged") && result.output.contains("seed 4: converged"))
    }
}

@Suite("Hub and node processes on loopback", .serialized, .blocksAThread)
struct ProcessTests {
    @Test("a real hub process and a node process: enrol, bootstrap, offline edits, sync, equal digests; a revoked node is refused")
    func hubAndNode() throws {
        let folder = try CLI.folder()
        #expect(try CLI.run(["seed", "--county", "371312", "--hub", "hub.sqlite", "--geojson", "p.geojson"], in: folder).status == 0)
        let server = try ChildProcess(CLI.binary.path, ["hub", "serve", "--store", "hub.sqlite", "--county", "371312", "--port", "0", "--port-file", "port"], in: folder)
        defer { server.stop(SIGTERM) }
        let portFile = folder.appendingPathComponent("port")
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            port = (try? String(contentsOf: portFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if port.isEmpty { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(!port.isEmpty, "the hub never reported its port")
        let secret = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", "node:371312001", "--township", "371312001"], in: folder).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.hasPrefix("tz_"))
        let initialized = try CLI.run(["node", "init", "--store", "node.sqlite", "--hub", "http://127.0.0.1:\(port)", "--credential", secret, "--replica", "node:371312001"], in: folder)
        #expect(initialized.status == 0, "\(initialized.error)")
        #expect(initialized.output.contains("for township 371312001"))
        let bootstrap = try CLI.run(["node", "sync", "--store", "node.sqlite", "--json"], in: folder)
        #expect(bootstrap.status == 0, "\(bootstrap.error)")
        let received = (try JSONSerialization.jsonObject(with: Data(bootstrap.output.utf8)) as? [String: Any])?["received"] as? Int ?? 0
        #expect(received > 50)
        // Offline work on the node: find a case in verification and decide it; add a note.
        let status = try CLI.run(["summary", "--store", "node.sqlite", "--json"], in: folder)
        #expect(status.status == 0)
        let caseID = try #require(try firstCase(in: folder.appendingPathComponent("p.geojson"), store: folder.appendingPathComponent("node.sqlite")))
        let moved = try CLI.run(["node", "note", "--store", "node.sqlite", caseID, "现场核查: 已停工"], in: folder)
        #expect(moved.status == 0, "\(moved.error)")
        let synced = try CLI.run(["node", "sync", "--store", "node.sqlite", "--json"], in: folder)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(synced.output.utf8)) as? [String: Any])
        #expect(report["sent"] as? Int == 1 && report["accepted"] as? Int == 1)
        let nodeStatus = try #require(try JSONSerialization.jsonObject(with: Data(try CLI.run(["node", "status", "--store", "node.sqlite", "--json"], in: folder).output.utf8)) as? [String: Any])
        let hubDigest = try CLI.run(["hub", "digest", "--store", "hub.sqlite", "--scope", "371312001"], in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(nodeStatus["digest"] as? String == hubDigest)
        #expect(nodeStatus["pending"] as? Int == 0)
        // Revoked: the next sync is refused with the documented code, and nothing is lost locally.
        #expect(try CLI.run(["hub", "revoke", "--store", "hub.sqlite", "--replica", "node:371312001"], in: folder).output.contains("revoked 1"))
        #expect(try CLI.run(["node", "note", "--store", "node.sqlite", caseID, "offline after revocation"], in: folder).status == 0)
        let refused = try CLI.run(["node", "sync", "--store", "node.sqlite"], in: folder)
        #expect(refused.status != 0)
        #expect(refused.error.contains("revoked_credential"))
        #expect(try CLI.run(["node", "status", "--store", "node.sqlite"], in: folder).output.contains("1 changes waiting"))
    }

    /// A case id of the node's township, read from the node's store with sqlite3 if present, else from the seed.
    func firstCase(in geojson: URL, store: URL) throws -> String? {
        let text = try ChildProcess.python(
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select id from enforcement_case order by id limit 1').fetchone()[0])", [store.path])
        return text.isEmpty ? nil : text
    }
}
