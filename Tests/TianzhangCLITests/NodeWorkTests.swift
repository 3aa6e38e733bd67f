import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

/// Reads one value from an SQLite store with Python's sqlite3 (an independent reader); `?` parameters.
func sqlText(_ store: URL, _ sql: String, _ arguments: [String] = []) throws -> String {
    try ChildProcess.python("import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2], sys.argv[3:]).fetchone(); print('' if r is None else r[0])",
                            [store.path, sql] + arguments)
}

extension CLI {
    /// Runs any program (for `script`, which gives a command a pseudo-terminal).
    static func runCommand(_ path: String, _ arguments: [String], in folder: URL) throws -> Result {
        try ToolProcess.run(URL(fileURLWithPath: path), arguments, in: folder, noColor: false)
    }
}

/// A county hub process, a proxy in front of it (so the hub can restart on another port behind the
/// same address), and township nodes initialised against it.
final class NodeWorld {
    let folder: URL
    var hub: HubProcess?
    let proxy: FaultProxy

    init(parcels: String = "3-5", faults: FaultProxy.Faults = .init()) throws {
        folder = try CLI.folder()
        let seeded = try CLI.run(["seed", "--county", "371312", "--parcels", parcels, "--hub", "hub.sqlite", "--geojson", "p.geojson"], in: folder)
        #expect(seeded.status == 0, "\(seeded.error)")
        let hub = try HubProcess(folder: folder)
        self.hub = hub
        proxy = try FaultProxy(targetPort: hub.port, faults: faults)
    }

    /// Enrols `replica` for `township` (or villages) and runs `node init` against the proxy.
    func enrolAndInit(_ replica: String, store: String, township: String? = "371312001", villages: String? = nil) throws {
        var enrol = ["hub", "enrol", "--store", "hub.sqlite", "--replica", replica]
        if let township, villages == nil { enrol += ["--township", township] }
        if let villages { enrol += ["--villages", villages] }
        let secret = try CLI.run(enrol, in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try CLI.run(["node", "init", "--store", store, "--hub", "http://127.0.0.1:\(proxy.port)", "--credential", secret, "--replica", replica], in: folder)
        #expect(result.status == 0, "\(result.error)")
    }

    func stopHub() { hub?.kill(); hub = nil }

    func startHub() throws {
        let hub = try HubProcess(folder: folder)
        self.hub = hub
        proxy.targetPort = hub.port
    }

    func node(_ arguments: [String], store: String) throws -> CLI.Result {
        try CLI.run(["node"] + arguments + ["--store", store], in: folder)
    }

    func json(_ result: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(result.status == 0, "\(result.error)", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output) \(result.error)", sourceLocation: sourceLocation)
    }

    func jsonArray(_ result: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        #expect(result.status == 0, "\(result.error)", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]], "\(result.output) \(result.error)", sourceLocation: sourceLocation)
    }

    func sync(_ store: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        try json(try CLI.run(["node", "sync", "--store", store, "--json"], in: folder), sourceLocation: sourceLocation)
    }

    func digest(_ store: String, scope: String = "371312001") throws -> (node: String, hub: String) {
        let status = try json(try CLI.run(["node", "status", "--store", store, "--json"], in: folder))
        let hub = try CLI.run(["hub", "digest", "--store", "hub.sqlite", "--scope", scope], in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
        return (status["digest"] as? String ?? "", hub)
    }

    func villages(of township: String, store: String) throws -> [String] {
        let text = try sqlText(folder.appendingPathComponent(store), "select group_concat(code) from (select code from division where length(code) = 12 and code like ? order by code)", [township + "%"])
        return text.split(separator: ",").map(String.init)
    }

    deinit {
        proxy.stop()
        hub?.kill()
    }
}

@Suite("Township node: offline case work, conflicts and rejected changes from the command line", .serialized, .blocksAThread)
struct NodeWorkTests {
    @Test("a case created, assigned, evidenced and moved with no hub running syncs whole when the hub is back; bad input gets its code")
    func offlineWorkThenSync() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        let bootstrap = try world.sync("node.sqlite")
        #expect(bootstrap["received"] as? Int ?? 0 > 10)
        let village = try #require(try world.villages(of: "371312001", store: "node.sqlite").first)
        world.stopHub()

        // Offline: every command records locally.
        let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "houseOnFarmland", "--lon", "118.35", "--lat", "35.05",
                                                     "--summary", "新建房屋地基", "--area", "1.5", "--json"], store: "node.sqlite"))
        let caseID = try #require(created["id"] as? String)
        #expect(created["waitingToSync"] as? Bool == true)
        let deadlines = try #require(created["deadlines"] as? [String: Any])
        #expect((deadlines["restoreBy"] as? Int ?? 0) - (deadlines["reportBy"] as? Int ?? 0) == 23 * 3_600_000)
        let human = try world.node(["case", "create", "--village", village, "--violation", "soilExtraction", "--lon", "118.35", "--lat", "35.05", "--summary", "取土"], store: "node.sqlite")
        #expect(human.status == 0 && human.output.contains("three ones: report by") && human.output.contains("waiting to sync"))
        let assigned = try world.node(["assign", caseID, "officer-zhang"], store: "node.sqlite")
        #expect(assigned.status == 0, "\(assigned.error)")
        let photo = world.folder.appendingPathComponent("site-photo.jpg")
        let bytes = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try bytes.write(to: photo)
        let expectedSHA = try pythonSHA256(photo)
        let evidence = try world.json(try world.node(["evidence", caseID, photo.path, "--note", "现场照片", "--json"], store: "node.sqlite"))
        #expect(evidence["sha256"] as? String == expectedSHA)
        #expect(evidence["sizeBytes"] as? Int == 5000 && evidence["mediaType"] as? String == "image/jpeg" && evidence["uploaded"] as? Bool == false)
        let kept = try Data(contentsOf: world.folder.appendingPathComponent("node.sqlite.attachments/\(expectedSHA)"))
        #expect(kept == bytes)
        let evidenceHuman = try world.node(["evidence", caseID, photo.path], store: "node.sqlite")
        #expect(evidenceHuman.output.contains("uploading the bytes to the county comes in a later version"))
        #expect(try world.node(["transition", caseID, "verifying"], store: "node.sqlite").status == 0)

        // Bad input, each with its code; nothing is recorded for them.
        let before = try world.json(try world.node(["status", "--json"], store: "node.sqlite"))["pending"] as? Int
        let outside = try world.node(["case", "create", "--village", "371312004201", "--violation", "other", "--lon", "118.3", "--lat", "35.0", "--summary", "x"], store: "node.sqlite")
        #expect(outside.status != 0 && outside.error.contains("outside_jurisdiction"), "\(outside.error)")
        let violation = try world.node(["case", "create", "--village", village, "--violation", "ufoLanding", "--lon", "118.3", "--lat", "35.0", "--summary", "x"], store: "node.sqlite")
        #expect(violation.status != 0 && violation.error.contains("unknown_violation_type"), "\(violation.error)")
        let badPoint = try world.node(["case", "create", "--village", village, "--violation", "other", "--lon", "218.3", "--lat", "35.0", "--summary", "x"], store: "node.sqlite")
        #expect(badPoint.status != 0 && badPoint.error.contains("invalid_geometry"), "\(badPoint.error)")
        let unknownCase = try world.node(["assign", "01NOSUCHCASE0000000000000", "officer-li"], store: "node.sqlite")
        #expect(unknownCase.status != 0 && unknownCase.error.contains("unknown_case"), "\(unknownCase.error)")
        let illegal = try world.node(["transition", caseID, "rectified"], store: "node.sqlite")
        #expect(illegal.status != 0 && illegal.error.contains("illegal_transition") && illegal.error.contains("verifying → rectified"), "\(illegal.error)")
        let decided = try world.node(["transition", caseID, "confirmed"], store: "node.sqlite")
        #expect(decided.status == 0, "\(decided.error)")
        try "notes".write(to: world.folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let media = try world.node(["evidence", caseID, world.folder.appendingPathComponent("notes.txt").path], store: "node.sqlite")
        #expect(media.status != 0 && media.error.contains("unsupported_media_type"), "\(media.error)")
        let missing = try world.node(["evidence", caseID, "no-such-file.jpg"], store: "node.sqlite")
        #expect(missing.status != 0 && missing.error.contains("file_not_found"), "\(missing.error)")
        let after = try world.json(try world.node(["status", "--json"], store: "node.sqlite"))["pending"] as? Int
        #expect(after == (before ?? 0) + 1, "only the confirmation was recorded among the bad inputs")

        let cases = try world.jsonArray(try world.node(["cases", "--json"], store: "node.sqlite"))
        let mine = try #require(cases.first { $0["id"] as? String == caseID })
        #expect(mine["status"] as? String == "confirmed" && mine["assignees"] as? [String] == ["officer-zhang"])
        let confirmed = try world.jsonArray(try world.node(["cases", "--status", "confirmed", "--json"], store: "node.sqlite"))
        #expect(confirmed.contains { $0["id"] as? String == caseID } && confirmed.allSatisfy { $0["status"] as? String == "confirmed" })
        #expect(!confirmed.contains { $0["status"] as? String == "verifying" })
        let overdue = try world.jsonArray(try world.node(["cases", "--overdue", "--json"], store: "node.sqlite"))
        #expect(overdue.allSatisfy { !($0["overdue"] as? [String] ?? []).isEmpty }, "every listed case is past a deadline")
        #expect(!overdue.contains { $0["id"] as? String == caseID }, "a case discovered a minute ago is not overdue")
        let badStatus = try world.node(["cases", "--status", "pending"], store: "node.sqlite")
        #expect(badStatus.status != 0 && badStatus.error.contains("unknown_status"))

        // The hub comes back (on another port, behind the same address): one sync carries it all.
        try world.startHub()
        let report = try world.sync("node.sqlite")
        let pending = after ?? 0
        #expect(report["sent"] as? Int == pending && report["accepted"] as? Int == pending, "\(report)")
        #expect((report["rejections"] as? [Any])?.isEmpty == true)
        let hub = world.folder.appendingPathComponent("hub.sqlite")
        #expect(try sqlText(hub, "select status from enforcement_case where id = ?", [caseID]) == "confirmed")
        #expect(try sqlText(hub, "select body from enforcement_case where id = ?", [caseID]).contains("officer-zhang"))
        #expect(try sqlText(hub, "select count(*) from timeline_entry where case_id = ?", [caseID]) == "3", "assignment and two evidence entries")
        #expect(try sqlText(hub, "select count(*) from timeline_entry where case_id = ? and body like '%\(expectedSHA)%'", [caseID]) == "2")
        #expect(try sqlText(hub, "select count(*) from attachment where sha256 = ? and case_id = ?", [expectedSHA, caseID]) == "1")
        _ = try world.sync("node.sqlite")
        let digests = try world.digest("node.sqlite")
        #expect(digests.node == digests.hub)
    }

    @Test("the same photo as evidence in two townships reaches the hub for both; bytes that went bad locally keep their record pending until they are good again")
    func photoInTwoTownships() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "a.sqlite", township: "371312001")
        try world.enrolAndInit("node:371312004", store: "b.sqlite", township: "371312004")
        _ = try world.sync("a.sqlite")
        _ = try world.sync("b.sqlite")
        let photo = world.folder.appendingPathComponent("shared-photo.jpg")
        let bytes = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 / 977) })
        try bytes.write(to: photo)
        let sha = try pythonSHA256(photo)
        var cases: [String: String] = [:]
        for (store, township) in [("a.sqlite", "371312001"), ("b.sqlite", "371312004")] {
            let village = try #require(try world.villages(of: township, store: store).first)
            let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "soilExtraction", "--lon", "118.35", "--lat", "35.05",
                                                         "--summary", "取土", "--json"], store: store))
            let caseID = try #require(created["id"] as? String)
            cases[store] = caseID
            #expect(try world.json(try world.node(["evidence", caseID, photo.path, "--json"], store: store))["sha256"] as? String == sha)
        }
        // Township A's copy goes bad on disk after it was recorded.
        var corrupt = bytes
        corrupt[2_000_000] ^= 0xFF
        try corrupt.write(to: world.folder.appendingPathComponent("a.sqlite.attachments/\(sha)"))
        let hub = world.folder.appendingPathComponent("hub.sqlite")

        let first = try world.sync("a.sqlite")
        #expect((first["attachmentsRefused"] as? [String])?.first?.contains("digest_mismatch") == true, "\(first)")
        #expect(((first["waiting"] as? [[String: Any]]) ?? []).map { $0["code"] as? String } == ["attachment_bytes_missing"], "\(first)")
        #expect(first["pending"] as? Int == 1, "the photo's record stays pending")
        #expect(try sqlText(hub, "select count(*) from attachment where sha256 = ?", [sha]) == "0")
        let status = try world.json(try world.node(["status", "--json"], store: "a.sqlite"))
        #expect((status["waiting"] as? [String])?.first?.contains("attachment_bytes_missing") == true && status["pending"] as? Int == 1, "\(status)")
        let human = try world.node(["sync"], store: "a.sqlite")
        #expect(human.output.contains("attachment_bytes_missing") && human.output.contains("digest_mismatch"), "\(human.output)")

        let other = try world.sync("b.sqlite")
        #expect(other["pending"] as? Int == 0 && (other["rejections"] as? [Any])?.isEmpty == true, "\(other)")
        #expect(try sqlText(hub, "select count(*) from attachment where sha256 = ? and case_id = ?", [sha, cases["b.sqlite"]!]) == "1")
        #expect(try Data(contentsOf: world.folder.appendingPathComponent("hub.sqlite.attachments/\(sha)")) == bytes)
        // Bytes the hub holds from township B do not stand in for A's: A's record still waits for A's own.
        #expect(try world.sync("a.sqlite")["pending"] as? Int == 1)

        try bytes.write(to: world.folder.appendingPathComponent("a.sqlite.attachments/\(sha)"))
        let healed = try world.sync("a.sqlite")
        #expect(healed["pending"] as? Int == 0 && healed["attachmentsUploaded"] as? Int == 1, "\(healed)")
        #expect(try sqlText(hub, "select count(*) from attachment where sha256 = ?", [sha]) == "2", "one record per case, both at the county")
    }

    @Test("a change the hub refuses shows in `node rejected`; amended, it is accepted on the next sync")
    func rejectedThenAmended() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        _ = try world.sync("node.sqlite")
        let villages = try world.villages(of: "371312001", store: "node.sqlite")
        try #require(villages.count >= 2)
        // The county narrows the office's credential to one village (the other moved to another office);
        // the node, not yet told, records a case in the other one.
        #expect(try CLI.run(["hub", "revoke", "--store", "hub.sqlite", "--replica", "node:371312001"], in: world.folder).status == 0)
        try world.enrolAndInit("node:371312001", store: "node.sqlite", villages: villages[0])
        let created = try world.json(try world.node(["case", "create", "--village", villages[1], "--violation", "wasteDumping", "--lon", "118.31", "--lat", "35.02",
                                                     "--summary", "建筑垃圾", "--json"], store: "node.sqlite"))
        let caseID = try #require(created["id"] as? String), changeID = try #require(created["change"] as? String)
        let refused = try world.sync("node.sqlite")
        let rejections = try #require(refused["rejections"] as? [[String: Any]])
        #expect(rejections.map { $0["code"] as? String } == ["outside_jurisdiction"])
        #expect(rejections.first?["change"] as? String == changeID)
        #expect(refused["rejectedWaiting"] as? Int == 1)
        let human = try world.node(["rejected"], store: "node.sqlite")
        #expect(human.output.contains(changeID) && human.output.contains("outside_jurisdiction") && human.output.contains("to amend"), "\(human.output)")
        let listed = try world.jsonArray(try world.node(["rejected", "--json"], store: "node.sqlite"))
        #expect(listed.count == 1 && listed[0]["amended"] as? Bool == false && listed[0]["code"] as? String == "outside_jurisdiction")

        let badJSON = try world.node(["rejected", "amend", changeID, "--set", "village=\(villages[0])x"], store: "node.sqlite")
        #expect(badJSON.status != 0 && badJSON.error.contains("malformed_json"), "\(badJSON.error)")
        let unknown = try world.node(["rejected", "amend", "node:371312001/999"], store: "node.sqlite")
        #expect(unknown.status != 0 && unknown.error.contains("unknown_change"), "\(unknown.error)")
        let amended = try world.node(["rejected", "amend", changeID, "--set", "village=\"\(villages[0])\"", "--scope", villages[0]], store: "node.sqlite")
        #expect(amended.status == 0, "\(amended.error)")
        let again = try world.node(["rejected", "amend", changeID, "--scope", villages[0]], store: "node.sqlite")
        #expect(again.status != 0 && again.error.contains("not_amendable"), "an amended change is not amended twice: \(again.error)")

        let accepted = try world.sync("node.sqlite")
        #expect(accepted["sent"] as? Int == 1 && accepted["accepted"] as? Int == 1, "\(accepted)")
        #expect((accepted["rejections"] as? [Any])?.isEmpty == true)
        let hub = world.folder.appendingPathComponent("hub.sqlite")
        #expect(try sqlText(hub, "select village from enforcement_case where id = ?", [caseID]) == villages[0])
        let afterwards = try world.jsonArray(try world.node(["rejected", "--json"], store: "node.sqlite"))
        #expect(afterwards.count == 1 && afterwards[0]["amended"] as? Bool == true)
    }

    @Test("a conflict made on two offices shows in `node conflicts`; a township resolves a summary for both, not a decision")
    func conflictsResolvedForBoth() throws {
        let world = try NodeWorld()
        let (a, b) = ("a.sqlite", "b.sqlite")
        try world.enrolAndInit("node:371312001", store: a)
        try world.enrolAndInit("node:371312001-b", store: b)
        _ = try world.sync(b)
        let village = try #require(try world.villages(of: "371312001", store: b).first)
        let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "greenhouseHouse", "--lon", "118.36", "--lat", "35.06",
                                                     "--summary", "大棚房", "--json"], store: a))
        let caseID = try #require(created["id"] as? String)
        _ = try world.sync(a)
        _ = try world.sync(b)
        #expect(try world.jsonArray(try world.node(["cases", "--status", "reported", "--json"], store: b)).contains { $0["id"] as? String == caseID })
        let conflictID = "case/\(caseID)/summary"

        #expect(try world.node(["case", "edit", caseID, "--summary", "A: 已停工", "--author", "clerk-a"], store: a).status == 0)
        #expect(try world.node(["case", "edit", caseID, "--summary", "B: 仍在施工", "--author", "clerk-b"], store: b).status == 0)
        #expect(try world.node(["transition", caseID, "verifying"], store: a).status == 0)
        _ = try world.sync(a)
        let merged = try world.sync(b)
        let details = try #require(merged["conflictDetails"] as? [[String: Any]])
        #expect(details.contains { $0["id"] as? String == conflictID && $0["rule"] as? String == "lww" }, "\(merged)")
        let summaryText = try world.node(["sync"], store: b)
        #expect(summaryText.status == 0 && summaryText.output.contains("open conflict"), "\(summaryText.output)")
        _ = try world.sync(a)

        for store in [a, b] {
            let rows = try world.jsonArray(try world.node(["conflicts", "--json"], store: store))
            let row = try #require(rows.first { $0["id"] as? String == conflictID }, "\(store): \(rows)")
            #expect(row["status"] as? String == "open" && row["rule"] as? String == "lww" && row["kind"] as? String == "concurrent_writes")
            // The protocol's one shape (the push answer's), and the other writes looked up for people.
            let record = try #require(row["record"] as? [String: Any])
            #expect(record["type"] as? String == "case" && record["id"] as? String == caseID, "\(row)")
            #expect(Set(row.keys) == ["id", "record", "field", "kind", "rule", "status", "winner", "others", "resolvableBy", "otherWrites"], "\(row.keys)")
            let winner = try #require(row["winner"] as? [String: Any]), others = try #require(row["otherWrites"] as? [[String: Any]])
            #expect(Set(winner.keys) == ["id", "hlc", "author", "value", "base"], "\(winner)")
            #expect(row["others"] as? [String] == others.map { $0["change"] as? String ?? "?" }, "\(row)")
            #expect(Set([winner["author"] as? String] + others.map { $0["author"] as? String }) == ["clerk-a", "clerk-b"])
            #expect(Set([winner["value"] as? String] + others.map { $0["value"] as? String }) == ["A: 已停工", "B: 仍在施工"])
        }
        let listed = try world.node(["conflicts"], store: a)
        #expect(listed.output.contains("OPEN \(conflictID)") && listed.output.contains("by clerk-b"), "\(listed.output)")

        // Incompatible decisions on the status are the county's to resolve.
        #expect(try world.node(["transition", caseID, "dismissed", "--author", "clerk-a"], store: a).status == 0)
        #expect(try world.node(["transition", caseID, "confirmed", "--author", "clerk-b"], store: b).status == 0)
        _ = try world.sync(a)
        _ = try world.sync(b)
        _ = try world.sync(a)
        let decision = try world.node(["conflicts", "resolve", "case/\(caseID)/status", "--take-winner"], store: a)
        #expect(decision.status != 0 && decision.error.contains("not_authorized") && decision.error.contains("the county decides"), "\(decision.error)")
        let neither = try world.node(["conflicts", "resolve", conflictID], store: a)
        #expect(neither.status != 0 && neither.error.contains("invalid_arguments"))
        let unknown = try world.node(["conflicts", "resolve", "case/nope/summary", "--take-winner"], store: a)
        #expect(unknown.status != 0 && unknown.error.contains("unknown_conflict"))

        let resolved = try world.node(["conflicts", "resolve", conflictID, "--value", "\"核实: 已停工, 待拆除\"", "--author", "clerk-a"], store: a)
        #expect(resolved.status == 0 && resolved.output.contains("resolved here"), "\(resolved.error) \(resolved.output)")
        let twice = try world.node(["conflicts", "resolve", conflictID, "--take-winner"], store: a)
        #expect(twice.status != 0 && twice.error.contains("already_resolved"))
        _ = try world.sync(a)
        _ = try world.sync(b)
        _ = try world.sync(a)
        for store in [a, b] {
            let rows = try world.jsonArray(try world.node(["conflicts", "--json"], store: store))
            let row = try #require(rows.first { $0["id"] as? String == conflictID })
            #expect(row["status"] as? String == "resolved", "\(store)")
            #expect((row["winner"] as? [String: Any])?["value"] as? String == "核实: 已停工, 待拆除")
            #expect(rows.first { $0["id"] as? String == "case/\(caseID)/status" }?["status"] as? String == "open", "the decision stays open for the county")
            let digests = try world.digest(store)
            #expect(digests.node == digests.hub, "\(store) differs from the hub")
        }
        #expect(try sqlText(world.folder.appendingPathComponent("hub.sqlite"), "select body from enforcement_case where id = ?", [caseID]).contains("核实: 已停工, 待拆除"))
    }
}

/// The SHA-256 of a file, computed by Python's hashlib (independently of the code under test).
func pythonSHA256(_ file: URL) throws -> String {
    try ChildProcess.python("import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", [file.path])
}
