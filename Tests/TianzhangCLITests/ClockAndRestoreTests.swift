import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

/// Copies an SQLite store with SQLite's online backup (Python's sqlite3, an independent tool), as an
/// operator's backup would: whole, also from a store in WAL mode that a process has open.
func sqliteBackup(_ source: URL, to target: URL) throws {
    _ = try ChildProcess.python("import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close(); s.close()",
                                [source.path, target.path])
}

/// Replaces a store with a backup the plain way (a file copy over it, no command): what a restore from
/// a backup, or a disk that lost its last commits, leaves behind.
func replaceStore(_ store: URL, with backup: URL) throws {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store.path + suffix) }
    try FileManager.default.copyItem(at: backup, to: store)
}

private let hours6: Int64 = 6 * 3_600_000

@Suite("Wrong device clocks and stores restored from a backup, with real processes", .serialized, .blocksAThread)
struct ClockAndRestoreTests {
    @Test("one edit made with the node's clock 6 h ahead is recorded again in the county's time at the next hello: nothing is refused, nothing waits for the clerk")
    func clockAheadDoesNotPoison() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        _ = try world.sync("node.sqlite")
        let village = try #require(try world.villages(of: "371312001", store: "node.sqlite").first)
        let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "houseOnFarmland", "--lon", "118.35", "--lat", "35.05",
                                                     "--summary", "新建房屋地基", "--json"], store: "node.sqlite"))
        let caseID = try #require(created["id"] as? String)
        _ = try world.sync("node.sqlite")

        // One note while the device clock is 6 h ahead (no sync in between: nothing tells the node).
        let ahead = try CLI.run(["node", "note", caseID, "钟快时的记录", "--store", "node.sqlite"], in: world.folder, environment: ["TIANZHANG_TEST_CLOCK_SKEW_MS": "\(hours6)"])
        #expect(ahead.status == 0, "\(ahead.error)")
        // The clock is right again: ten more notes and an edit.
        for n in 1...10 { #expect(try world.node(["note", caseID, "记录 \(n)"], store: "node.sqlite").status == 0) }
        #expect(try world.node(["case", "edit", caseID, "--summary", "已停工"], store: "node.sqlite").status == 0)

        // Before this version the note was refused `clock_ahead` and had to be amended by hand (and,
        // before issue 10, every later edit was refused with it).
        let report = try world.sync("node.sqlite")
        #expect((report["rejections"] as? [Any])?.isEmpty == true, "nothing is refused: \(report)")
        #expect(report["accepted"] as? Int == 12, "\(report)")
        let restamped = try #require((report["clock"] as? [String: Any])?["restamped"] as? [String], "\(report)")
        #expect(restamped.count == 1, "only the note stamped 6 h ahead is recorded again: \(restamped)")

        let status = try world.json(try world.node(["status", "--json"], store: "node.sqlite"))
        #expect((status["refusedUnamended"] as? [String])?.isEmpty == true, "\(status)")
        let hub = world.folder.appendingPathComponent("hub.sqlite"), node = world.folder.appendingPathComponent("node.sqlite")
        let count = "select count(*) from timeline_entry where case_id = ?"
        #expect(try sqlText(hub, count, [caseID]) == "11", "ten notes and the one recorded again, each once, at the county")
        #expect(try sqlText(node, count, [caseID]) == "11")
        let digests = try world.digest("node.sqlite")
        #expect(digests.node == digests.hub)
    }

    @Test("a node whose clock was already poisoned is brought back at hello: the edit made then is recorded again in county time, and its next edits are accepted")
    func poisonedClockRecoversAtHello() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        let village = try #require(try world.villages(of: "371312001", store: "hub.sqlite").first)
        // Never synced with a right clock: the first edit is made 6 h ahead and drags the clock along.
        let skewed = ["TIANZHANG_TEST_CLOCK_SKEW_MS": "\(hours6)"]
        let created = try world.json(try CLI.run(["node", "case", "create", "--village", village, "--violation", "other", "--lon", "118.35", "--lat", "35.05",
                                                  "--summary", "x", "--json", "--store", "node.sqlite"], in: world.folder, environment: skewed))
        let caseID = try #require(created["id"] as? String)
        let first = try world.json(try CLI.run(["node", "sync", "--store", "node.sqlite", "--json"], in: world.folder, environment: skewed))
        #expect((first["rejections"] as? [Any])?.isEmpty == true, "the case made 6 h ahead is recorded again in county time, not refused: \(first)")
        #expect(first["accepted"] as? Int == 1, "\(first)")
        #expect(((first["clock"] as? [String: Any])?["rewoundMilliseconds"] as? Int ?? 0) > 5 * 3_600_000, "hello brought the clock back: \(first)")
        // The device clock is still 6 h ahead: the node stamps in the county's time now.
        #expect(try CLI.run(["node", "case", "edit", caseID, "--summary", "y", "--store", "node.sqlite"], in: world.folder, environment: skewed).status == 0)
        let second = try world.json(try CLI.run(["node", "sync", "--store", "node.sqlite", "--json"], in: world.folder, environment: skewed))
        #expect(second["accepted"] as? Int == 1 && (second["rejections"] as? [Any])?.isEmpty == true, "\(second)")
        #expect(try sqlText(world.folder.appendingPathComponent("hub.sqlite"), "select count(*) from enforcement_case where id = ?", [caseID]) == "1")
    }

    @Test("a case created on a device 6 h behind gets its deadlines from the county's time; the skew is shown and reported")
    func deviceBehindGetsCountyDeadlines() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        let behind = ["TIANZHANG_TEST_CLOCK_SKEW_MS": "\(-hours6)"]
        let synced = try world.json(try CLI.run(["node", "sync", "--store", "node.sqlite", "--json"], in: world.folder, environment: behind))
        #expect(((synced["clock"] as? [String: Any])?["offsetMilliseconds"] as? Int ?? 0) > 5 * 3_600_000, "\(synced)")
        let village = try #require(try world.villages(of: "371312001", store: "node.sqlite").first)
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let created = try world.json(try CLI.run(["node", "case", "create", "--village", village, "--violation", "soilExtraction", "--lon", "118.35", "--lat", "35.05",
                                                  "--summary", "取土", "--json", "--store", "node.sqlite"], in: world.folder, environment: behind))
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        let deadlines = try #require(created["deadlines"] as? [String: Any])
        let reportBy = Int64(deadlines["reportBy"] as? Int ?? 0)
        #expect(reportBy >= before + 3_600_000 - 60_000 && reportBy <= after + 3_600_000 + 60_000,
                "report-by is an hour after the county's time of discovery, not the device's: \(reportBy - before) ms from now")
        let overdue = try world.jsonArray(try CLI.run(["node", "cases", "--overdue", "--json", "--store", "node.sqlite"], in: world.folder, environment: behind))
        #expect(!overdue.contains { $0["id"] as? String == created["id"] as? String }, "a new case is not born overdue: \(overdue)")

        let status = try CLI.run(["node", "status", "--store", "node.sqlite"], in: world.folder, environment: behind)
        #expect(status.output.contains("本机时钟慢 6 小时 (已按县局时间校正)"), "\(status.output)")
        let pushed = try world.json(try CLI.run(["node", "sync", "--store", "node.sqlite", "--json"], in: world.folder, environment: behind))
        #expect(pushed["accepted"] as? Int == 1 && (pushed["rejections"] as? [Any])?.isEmpty == true, "\(pushed)")
        let replicas = try CLI.run(["hub", "replicas", "--store", "hub.sqlite"], in: world.folder)
        #expect(replicas.output.contains("node:371312001: clock 6 h 0 min behind"), "\(replicas.output)")
    }

    @Test("a node restored from an earlier copy of its store: its next edits all reach the hub (none duplicate) and its lost edits come back")
    func nodeRestoredFromEarlierCopy() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        _ = try world.sync("node.sqlite")
        let village = try #require(try world.villages(of: "371312001", store: "node.sqlite").first)
        let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "other", "--lon", "118.35", "--lat", "35.05",
                                                     "--summary", "x", "--json"], store: "node.sqlite"))
        let caseID = try #require(created["id"] as? String)
        _ = try world.sync("node.sqlite")
        let node = world.folder.appendingPathComponent("node.sqlite"), backup = world.folder.appendingPathComponent("node-backup.sqlite")
        try sqliteBackup(node, to: backup)

        for n in 1...5 { #expect(try world.node(["note", caseID, "备份后 \(n)"], store: "node.sqlite").status == 0) }
        let sent = try world.sync("node.sqlite")
        #expect(sent["accepted"] as? Int == 5)

        try replaceStore(node, with: backup)
        for n in 1...10 { #expect(try world.node(["note", caseID, "恢复后 \(n)"], store: "node.sqlite").status == 0) }
        let report = try world.sync("node.sqlite")
        #expect(report["duplicates"] as? Int == 0, "no new edit reuses a seq the hub holds: \(report)")
        #expect(report["accepted"] as? Int == 10, "\(report)")
        #expect((report["rejections"] as? [Any])?.isEmpty == true)

        let hub = world.folder.appendingPathComponent("hub.sqlite")
        let count = "select count(*) from timeline_entry where case_id = ?"
        #expect(try sqlText(hub, count, [caseID]) == "15", "the five before the restore and the ten after")
        #expect(try sqlText(node, count, [caseID]) == "15", "the node's five lost notes came back from the county")
        let digests = try world.digest("node.sqlite")
        #expect(digests.node == digests.hub)
        let next = try world.sync("node.sqlite")
        #expect(next["sent"] as? Int == 0 && next["received"] as? Int == 0, "settled: \(next)")
    }

    @Test("a hub restored from an earlier copy: the nodes re-send every edit it had acknowledged, and a node pulling afterwards misses nothing")
    func hubRestoredFromEarlierCopy() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "a.sqlite")
        try world.enrolAndInit("node:371312001-b", store: "b.sqlite")
        _ = try world.sync("a.sqlite")
        _ = try world.sync("b.sqlite")
        let village = try #require(try world.villages(of: "371312001", store: "a.sqlite").first)
        let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "other", "--lon", "118.35", "--lat", "35.05",
                                                     "--summary", "x", "--json"], store: "a.sqlite"))
        let caseID = try #require(created["id"] as? String)
        _ = try world.sync("a.sqlite")
        let hub = world.folder.appendingPathComponent("hub.sqlite"), backup = world.folder.appendingPathComponent("hub-backup.sqlite")
        try sqliteBackup(hub, to: backup)

        for n in 1...11 { #expect(try world.node(["note", caseID, "已确认 \(n)"], store: "a.sqlite").status == 0) }
        #expect(try world.sync("a.sqlite")["accepted"] as? Int == 11)
        #expect(try world.sync("b.sqlite")["received"] as? Int ?? 0 >= 11, "b pulled past the backup's log head")

        world.stopHub()
        let restored = try CLI.run(["hub", "restore", "--from", backup.path, "--store", "hub.sqlite"], in: world.folder)
        #expect(restored.status == 0 && restored.output.contains("new incarnation"), "\(restored.output) \(restored.error)")
        try world.startHub()
        #expect(try sqlText(hub, "select count(*) from timeline_entry where case_id = ?", [caseID]) == "0", "the copy lacks the eleven")

        for n in 1...30 { #expect(try world.node(["note", caseID, "恢复后 \(n)"], store: "a.sqlite").status == 0) }
        let resent = try world.sync("a.sqlite")
        #expect(resent["accepted"] as? Int == 41, "the eleven the copy lacks and the thirty new: \(resent)")
        let pulled = try world.sync("b.sqlite")
        #expect((pulled["recovery"] as? [String: Any])?["repullReason"] != nil, "\(pulled)")

        let count = "select count(*) from timeline_entry where case_id = ?"
        #expect(try sqlText(hub, count, [caseID]) == "41")
        #expect(try sqlText(world.folder.appendingPathComponent("b.sqlite"), count, [caseID]) == "41", "b misses none of the new entries")
        let (a, b) = (try world.digest("a.sqlite"), try world.digest("b.sqlite"))
        #expect(a.node == a.hub)
        #expect(b.node == b.hub)
    }

    @Test("a hub replaced by a plain copy (no restore command): nodes still notice from what it holds, re-send and re-pull")
    func hubCopiedBackWithoutCommand() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "a.sqlite")
        _ = try world.sync("a.sqlite")
        let village = try #require(try world.villages(of: "371312001", store: "a.sqlite").first)
        let created = try world.json(try world.node(["case", "create", "--village", village, "--violation", "other", "--lon", "118.35", "--lat", "35.05",
                                                     "--summary", "x", "--json"], store: "a.sqlite"))
        let caseID = try #require(created["id"] as? String)
        _ = try world.sync("a.sqlite")
        let hub = world.folder.appendingPathComponent("hub.sqlite"), backup = world.folder.appendingPathComponent("hub-backup.sqlite")
        try sqliteBackup(hub, to: backup)
        for n in 1...11 { #expect(try world.node(["note", caseID, "已确认 \(n)"], store: "a.sqlite").status == 0) }
        #expect(try world.sync("a.sqlite")["accepted"] as? Int == 11)
        world.stopHub()
        try replaceStore(hub, with: backup)
        try world.startHub()
        let resent = try world.sync("a.sqlite")
        #expect(resent["accepted"] as? Int == 11, "\(resent)")
        #expect(try sqlText(hub, "select count(*) from timeline_entry where case_id = ?", [caseID]) == "11")
        let digests = try world.digest("a.sqlite")
        #expect(digests.node == digests.hub, "the hub's new receipts do not reuse the ids of those it lost")
    }
}
