import Foundation
import Testing

/// Runs the real `tianzhang` executable (built with the tests) and checks its output and exit code.
enum CLI {
    static let binary: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let candidates = [".build/debug/tianzhang", ".build/x86_64-unknown-linux-gnu/debug/tianzhang"].map { url.appendingPathComponent($0) }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    struct Result { var status: Int32; var output: String; var error: String }

    static func run(_ arguments: [String], in folder: URL) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile(), error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self), error: String(decoding: error, as: UTF8.self))
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

@Suite("Command line", .serialized)
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
        #expect(result.output.contains("merged with a conflict (incompatible_decisions on status"))
        #expect(result.output.contains("refused at once — hub_owned_field"))
        #expect(result.output.contains("RESOLVED case/"))
        #expect(result.output.contains("files a correction request") && result.output.contains("(the county's accepted correction)"))
        #expect(!result.output.contains("DIFFERENT"))
        #expect(result.output.components(separatedBy: "converged; outbox 0").count - 1 == 4)
    }

    @Test("a failing simulation seed is reported, and a good one converges")
    func simulate() throws {
        let result = try CLI.run(["simulate", "--seed", "3", "--count", "2"], in: try CLI.folder())
        #expect(result.status == 0)
        #expect(result.output.contains("seed 3: converged") && result.output.contains("seed 4: converged"))
    }
}
