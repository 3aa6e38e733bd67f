import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

/// Counts with `psql` (PostgreSQL's own client: an independent reader of the hubs' database).
func psqlCount(_ sql: String) throws -> Int {
    let result = try ChildProcess.run("/usr/bin/env", ["psql", try TestPostgres.url(), "-tAc", sql])
    return Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
}

@Suite("Two hub processes on one PostgreSQL database, with township nodes syncing through either", .serialized, .blocksAThread, .enabled(if: TestPostgres.enabled))
struct PostgresHubProcessTests {
    @Test("a SQLite hub moved to PostgreSQL; three townships push through two hub processes at once while another office of a township pulls: all converge, nothing skipped or duplicated")
    func twoHubProcesses() throws {
        let folder = try CLI.folder()
        let url = try TestPostgres.url(), schema = TestPostgres.freshSchema()
        let database = ["--database", url, "--schema", schema]
        #expect(try CLI.run(["seed", "--county", "371312", "--parcels", "20-30", "--hub", "hub.sqlite"], in: folder).status == 0)
        let copied = try CLI.run(["hub", "copy-to-postgres", "--store", "hub.sqlite"] + database, in: folder)
        #expect(copied.status == 0, "\(copied.error)")
        let copiedChanges = try psqlCount("select count(*) from \(schema).change_log")
        #expect(copiedChanges > 500 && copied.output.contains("copied \(copiedChanges) changes"), "\(copied.output)")
        let again = try CLI.run(["hub", "copy-to-postgres", "--store", "hub.sqlite"] + database, in: folder)
        #expect(again.status != 0 && again.error.contains("not_empty"), "a second copy is refused: \(again.error)")

        let hubs = [try HubProcess(folder: folder, extra: database), try HubProcess(folder: folder, extra: database)]
        defer { hubs.forEach { $0.kill() } }
        #expect(hubs.allSatisfy { $0.port > 0 })
        let townships = ["371312001", "371312004", "371312005"]
        func initNode(_ replica: String, township: String, store: String, hub: HubProcess) throws {
            let secret = try CLI.run(["hub", "enrol", "--replica", replica, "--township", township] + database, in: folder).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let result = try CLI.run(["node", "init", "--store", store, "--hub", "http://127.0.0.1:\(hub.port)", "--credential", secret, "--replica", replica], in: folder)
            #expect(result.status == 0, "\(result.error)")
            #expect(try CLI.run(["node", "sync", "--store", store], in: folder).status == 0)
        }
        for (index, township) in townships.enumerated() { try initNode("node:\(township)", township: township, store: "\(township).sqlite", hub: hubs[index % 2]) }
        // A second office of the first township, on the other hub: it only pulls, while the others push.
        try initNode("node:371312001-annex", township: "371312001", store: "annex.sqlite", hub: hubs[1])

        let weak = WeakLinkTests()
        for township in townships {
            let caseID = try weak.firstCase(township, folder: folder)
            #expect(try CLI.run(["node", "note", "--store", "\(township).sqlite", caseID, "并发推送", "--repeat", "150"], in: folder).status == 0)
        }
        let pushes = try townships.map { try ChildProcess(CLI.binary.path, ["node", "sync", "--store", "\($0).sqlite", "--batch-size", "20"], in: folder) }
        var pulls = 0
        while pushes.contains(where: \.isRunning) {
            #expect(try CLI.run(["node", "sync", "--store", "annex.sqlite"], in: folder).status == 0)
            pulls += 1
        }
        #expect(pushes.map { $0.wait().status } == [0, 0, 0])
        // A second round brings each node the county's receipts for the others' changes.
        for store in townships.map({ "\($0).sqlite" }) + ["annex.sqlite"] { #expect(try CLI.run(["node", "sync", "--store", store], in: folder).status == 0) }

        for township in townships {
            let status = try CLI.run(["node", "status", "--store", "\(township).sqlite", "--json"], in: folder)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
            let hubDigest = try CLI.run(["hub", "digest", "--scope", township] + database, in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(body["digest"] as? String == hubDigest, "\(township) differs from the county")
            #expect(body["pending"] as? Int == 0)
            let own = try sqlCount(folder.appendingPathComponent("\(township).sqlite"), "select count(*) from change_log where origin = 'node:\(township)'")
            #expect(own >= 150)
            #expect(try psqlCount("select count(*) from \(schema).change_log where origin = 'node:\(township)'") == own, "every change of \(township) at the county once")
        }
        #expect(try psqlCount("select count(*) - count(distinct (origin, origin_seq)) from \(schema).change_log") == 0, "no change twice")
        let annexDigest = try CLI.run(["node", "status", "--store", "annex.sqlite", "--json"], in: folder).output
        let hubDigest = try CLI.run(["hub", "digest", "--scope", "371312001"] + database, in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(annexDigest.contains(hubDigest), "the office that pulled during the pushes holds what the county holds")
        let annexLog = try sqlCount(folder.appendingPathComponent("annex.sqlite"), "select count(*) from change_log")
        #expect(annexLog == (try psqlCount("select count(*) from \(schema).change_log where scope like '371312001%'")),
                "the pulling office received every change of its township exactly once (\(pulls) syncs during the pushes)")
    }
}
