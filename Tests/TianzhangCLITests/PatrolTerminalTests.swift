import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

/// A terminal under tmux: the interactive client is driven with send-keys and read with capture-pane.
final class TmuxSession {
    let name = "tz-\(UUID().uuidString.prefix(8))"

    init(command: String, folder: URL, width: Int = 110, height: Int = 32) throws {
        let result = try Self.tmux(["new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)", "-c", folder.path, command])
        guard result.status == 0 else { throw CLIError("tmux new-session failed: \(result.output)") }
    }

    deinit { _ = try? Self.tmux(["kill-session", "-t", name]) }

    struct CLIError: Error, CustomStringConvertible { var description: String; init(_ text: String) { description = text } }

    static func tmux(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run("/usr/bin/env", ["tmux"] + arguments)
        return (result.status, result.output + result.error)
    }

    /// Types keys (tmux key names such as Enter, Tab, Down, or literal text with `literal: true`).
    func send(_ keys: String..., literal: Bool = false) throws {
        _ = try Self.tmux(["send-keys", "-t", name] + (literal ? ["-l"] : []) + keys)
    }

    func screen() throws -> String { try Self.tmux(["capture-pane", "-p", "-t", name]).output }

    /// Waits (up to 20 s) until the screen shows `text`; returns the screen.
    @discardableResult
    func waitFor(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        var last = ""
        for _ in 0..<200 {
            last = try screen()
            if last.contains(text) { return last }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the screen never showed \"\(text)\"; it shows:\n\(last)", sourceLocation: sourceLocation)
        return last
    }
}

@Suite("The terminal patrol client, driven in a real terminal (tmux)", .serialized, .blocksAThread)
struct PatrolTerminalTests {
    /// A point inside a parcel of the seed: the mean of its ring (the generated parcels are convex).
    func inside(_ parcel: String, geojson: URL) throws -> (Double, Double) {
        let collection = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: geojson)) as? [String: Any])
        let features = try #require(collection["features"] as? [[String: Any]])
        let feature = try #require(features.first { ($0["id"] as? String) == parcel || (($0["properties"] as? [String: Any])?["id"] as? String) == parcel })
        let ring = try #require(((feature["geometry"] as? [String: Any])?["coordinates"] as? [[[Double]]])?.first).dropLast()
        return (ring.map { $0[0] }.reduce(0, +) / Double(ring.count), ring.map { $0[1] }.reduce(0, +) / Double(ring.count))
    }

    @Test("a field chief checks in and reports with a photo in the full-screen client; a sync brings both to the hub")
    func checkInAndReport() throws {
        #expect(try TmuxSession.tmux(["-V"]).status == 0, "tmux is missing: scripts/test.sh installs it")
        let folder = try CLI.folder()
        #expect(try CLI.run(["seed", "--county", "371312", "--hub", "hub.sqlite", "--geojson", "p.geojson"], in: folder).status == 0)
        let hub = try HubProcess(folder: folder)
        defer { hub.kill() }
        let secret = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", "patrol:chief-371312001201", "--villages", "371312001201"], in: folder)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        let enrolled = try CLI.run(["patrol", "init", "--store", "patrol.sqlite", "--upstream", "http://127.0.0.1:\(hub.port)", "--credential", secret,
                                    "--replica", "patrol:chief-371312001201"], in: folder)
        #expect(enrolled.status == 0, "\(enrolled.error)")
        #expect(try CLI.run(["patrol", "sync", "--store", "patrol.sqlite"], in: folder).status == 0)
        let (lon, lat) = try inside("371312001201-0003", geojson: folder.appendingPathComponent("p.geojson"))
        let photo = folder.appendingPathComponent("excavator.jpg")
        try Data((0..<180_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }).write(to: photo)

        let terminal = try TmuxSession(command: "\(CLI.binary.path) patrol --store patrol.sqlite --lon \(lon) --lat \(lat)", folder: folder)
        try terminal.waitFor("田长 patrol")
        try terminal.waitFor("pending: 0 to send")
        // Nearby: the parcel we stand in is first, "here".
        try terminal.send("2")
        let nearby = try terminal.waitFor("Parcels near you")
        #expect(nearby.contains("▶ 371312001201-0003  here"))
        try terminal.send("Enter")
        try terminal.waitFor("Check in at 371312001201-0003")
        try terminal.send("沟渠通畅 ditch clear", literal: true)
        try terminal.send("Enter")
        let checked = try terminal.waitFor("✔ checked in at 371312001201-0003")
        #expect(checked.contains("inside the parcel"))
        #expect(checked.contains("pending: 1 to send"))
        // Report: third type, a note, a photo.
        try terminal.send("3")
        try terminal.waitFor("Report earth-moving")
        try terminal.send("Right", "Right", "Right", "Tab")
        try terminal.send("挖掘机取土 excavator", literal: true)
        try terminal.send("Tab")
        try terminal.send(photo.path, literal: true)
        try terminal.send("Enter")
        let reported = try terminal.waitFor("✔ reported case")
        #expect(reported.contains("with 1 photo(s)"))
        #expect(reported.contains("pending: 4 to send"))  // the check-in; the case, its photo and its timeline entry
        // Sync from the screen.
        try terminal.send("s")
        let synced = try terminal.waitFor("✔ sent 4")
        #expect(synced.contains("pending: 0 to send, 0 not yet at the county"))
        try terminal.send("q")

        let hubStore = folder.appendingPathComponent("hub.sqlite")
        #expect(try sqlCount(hubStore, "select count(*) from check_in where parcel_id = '371312001201-0003'") == 1)
        #expect(try sqlCount(hubStore, "select count(*) from change_log where origin = 'patrol:chief-371312001201' and record_type = 'case'") == 1)
        #expect(try sqlCount(hubStore, "select count(*) from attachment where size_bytes = 180000") == 1)
        // The photo's bytes reached the hub before its record, verified against its digest.
        let vault = folder.appendingPathComponent("hub.sqlite.attachments")
        let kept = try FileManager.default.contentsOfDirectory(atPath: vault.path).filter { $0.count == 64 }
        #expect(kept.count == 1)
        #expect(try kept.map { try Data(contentsOf: vault.appendingPathComponent($0)) } == [try Data(contentsOf: photo)])
    }

    @Test("the scripting subcommands: checkin, report with a photo, pending and sync, each with --json; a bad violation type is refused by name")
    func scriptingSubcommands() throws {
        let folder = try CLI.folder()
        #expect(try CLI.run(["seed", "--county", "371312", "--hub", "hub.sqlite", "--geojson", "p.geojson"], in: folder).status == 0)
        let hub = try HubProcess(folder: folder)
        defer { hub.kill() }
        let replica = "patrol:chief-371312001201"
        let secret = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", replica, "--villages", "371312001201"], in: folder)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try CLI.run(["patrol", "init", "--store", "patrol.sqlite", "--upstream", "http://127.0.0.1:\(hub.port)", "--credential", secret,
                             "--replica", replica], in: folder).status == 0)
        #expect(try CLI.run(["patrol", "sync", "--store", "patrol.sqlite"], in: folder).status == 0)
        let (lon, lat) = try inside("371312001201-0002", geojson: folder.appendingPathComponent("p.geojson"))
        let position = ["--lon", "\(lon)", "--lat", "\(lat)"]
        func json(_ result: CLI.Result) throws -> [String: Any] {
            #expect(result.status == 0, "\(result.error)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        }

        let checkIn = try json(try CLI.run(["patrol", "checkin", "--store", "patrol.sqlite", "371312001201-0002", "--observation", "田埂完好"] + position + ["--json"], in: folder))
        #expect((checkIn["id"] as? String)?.isEmpty == false)
        #expect("\(checkIn["geofence"] ?? "")".contains("inside"), "\(checkIn)")

        let photo = folder.appendingPathComponent("digger.jpg")
        try Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: photo)
        let refused = try CLI.run(["patrol", "report", "--store", "patrol.sqlite", "--violation", "bulldozing", "--note", "x"] + position, in: folder)
        #expect(refused.status != 0)
        #expect(refused.error.contains("bulldozing is not a violation type"), "\(refused.error)")
        let report = try json(try CLI.run(["patrol", "report", "--store", "patrol.sqlite", "--violation", "soilExtraction", "--note", "取土坑",
                                           "--photo", photo.path, "--area", "0.4"] + position + ["--json"], in: folder))
        let caseID = try #require(report["caseID"] as? String)
        #expect(report["village"] as? String == "371312001201")
        #expect((report["photos"] as? [String])?.count == 1)
        let reportBy = try #require(report["reportBy"] as? Int64), onSiteBy = try #require(report["onSiteBy"] as? Int64)
        let restoreBy = try #require(report["restoreBy"] as? Int64)
        #expect(reportBy == onSiteBy && restoreBy - onSiteBy == 23 * 3_600_000, "the three ones: reported and on site within the hour, restored within the day")

        let pending = try json(try CLI.run(["patrol", "pending", "--store", "patrol.sqlite", "--json"], in: folder))
        #expect(pending["notYetSent"] as? Int == 4, "the check-in; the case, its photo and its timeline entry: \(pending)")
        let synced = try json(try CLI.run(["patrol", "sync", "--store", "patrol.sqlite", "--json"], in: folder))
        #expect(synced["sent"] as? Int == 4)
        let after = try json(try CLI.run(["patrol", "pending", "--store", "patrol.sqlite", "--json"], in: folder))
        #expect(after["notYetSent"] as? Int == 0)

        let hubStore = folder.appendingPathComponent("hub.sqlite")
        #expect(try sqlCount(hubStore, "select count(*) from check_in where parcel_id = '371312001201-0002'") == 1)
        #expect(try sqlCount(hubStore, "select count(*) from enforcement_case where id = '\(caseID)'") == 1)
        #expect(try sqlCount(hubStore, "select count(*) from change_log where origin = '\(replica)' and record_type = 'case'") == 1)
    }
}
