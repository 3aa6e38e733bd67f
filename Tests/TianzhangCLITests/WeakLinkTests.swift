import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

/// A running `tianzhang hub serve` process.
final class HubProcess {
    let process: ChildProcess
    let port: Int

    /// - Parameter extra: more `hub serve` arguments (e.g. `--tls-cert`, `--tls-key`).
    init(folder: URL, extra: [String] = []) throws {
        let portFile = folder.appendingPathComponent("port-\(UUID().uuidString)")
        process = try ChildProcess(CLI.binary.path, ["hub", "serve", "--store", "hub.sqlite", "--county", "371312", "--port", "0", "--port-file", portFile.path] + extra, in: folder)
        var text = ""
        for _ in 0..<200 where text.isEmpty {
            text = (try? String(contentsOf: portFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if text.isEmpty { Thread.sleep(forTimeInterval: 0.05) }
        }
        port = Int(text) ?? 0
    }

    func kill() { process.stop(SIGKILL) }

    deinit { process.stop(SIGKILL) }
}

/// Reads one number from an SQLite store with Python's sqlite3 (an independent reader).
func sqlCount(_ store: URL, _ sql: String) throws -> Int {
    let text = try ChildProcess.python("import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])", [store.path, sql])
    return Int(text) ?? -1
}

@Suite("Weak links, for real: hub and node processes behind a fault-injecting proxy", .serialized, .blocksAThread)
struct WeakLinkTests {
    let townships = ["371312001", "371312004", "371312005"]

    func prepare() throws -> URL {
        let folder = try CLI.folder()
        let seeded = try CLI.run(["seed", "--county", "371312", "--parcels", "60-80", "--hub", "hub.sqlite", "--geojson", "p.geojson"], in: folder)
        #expect(seeded.status == 0, "\(seeded.error)")
        return folder
    }

    func enrolAndInit(_ township: String, folder: URL, port: Int) throws {
        let secret = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", "node:\(township)", "--township", township], in: folder).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try CLI.run(["node", "init", "--store", "\(township).sqlite", "--hub", "http://127.0.0.1:\(port)", "--credential", secret, "--replica", "node:\(township)"], in: folder)
        #expect(result.status == 0, "\(result.error)")
    }

    func firstCase(_ township: String, folder: URL) throws -> String {
        try ChildProcess.python("import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select id from enforcement_case order by id limit 1').fetchone()[0])",
                                [folder.appendingPathComponent("\(township).sqlite").path])
    }

    func expectConverged(_ township: String, folder: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let status = try CLI.run(["node", "status", "--store", "\(township).sqlite", "--json"], in: folder)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any], sourceLocation: sourceLocation)
        let hubDigest = try CLI.run(["hub", "digest", "--store", "hub.sqlite", "--scope", township], in: folder).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(body["digest"] as? String == hubDigest, "\(township) differs from the hub", sourceLocation: sourceLocation)
        #expect(body["pending"] as? Int == 0, sourceLocation: sourceLocation)
        // Every change this node wrote is at the hub exactly once.
        let node = folder.appendingPathComponent("\(township).sqlite"), hub = folder.appendingPathComponent("hub.sqlite")
        let own = try sqlCount(node, "select count(*) from change_log where origin = 'node:\(township)'")
        #expect(own > 0, sourceLocation: sourceLocation)
        #expect(try sqlCount(hub, "select count(*) from change_log where origin = 'node:\(township)'") == own, sourceLocation: sourceLocation)
        #expect(try sqlCount(hub, "select count(distinct origin || '/' || origin_seq) from change_log") == (try sqlCount(hub, "select count(*) from change_log")), sourceLocation: sourceLocation)
    }

    @Test("three townships edit offline and sync through a link that cuts each connection after 24 KB on the wire; all converge with the hub")
    func threeTownshipsThroughCuttingLink() throws {
        let folder = try prepare()
        let hub = try HubProcess(folder: folder)
        let proxy = try FaultProxy(targetPort: hub.port, faults: .init(latencyMilliseconds: 2, cutAfterBytes: 24_000))
        for township in townships { try enrolAndInit(township, folder: folder, port: proxy.port) }
        for township in townships {
            let bootstrap = try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder)
            #expect(bootstrap.status == 0, "\(bootstrap.error)")
        }
        for township in townships {
            let caseID = try firstCase(township, folder: folder)
            #expect(try CLI.run(["node", "note", "--store", "\(township).sqlite", caseID, "巡查记录", "--repeat", "120"], in: folder).status == 0)
            // The seeded case may already be past `reported`: then the refusal must be the typed one, and nothing is recorded.
            let moved = try CLI.run(["node", "transition", "--store", "\(township).sqlite", caseID, "verifying"], in: folder)
            #expect(moved.status == 0 || moved.error.contains("Illegal transition"), "\(moved.error)")
        }
        for township in townships {
            let synced = try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder)
            #expect(synced.status == 0, "\(synced.error)")
        }
        // A second round brings each the others' receipts; then everyone must agree.
        for township in townships { #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0) }
        #expect(proxy.statistics.cuts >= 1, "the link must actually have been cut (cuts: \(proxy.statistics.cuts))")
        for township in townships { try expectConverged(township, folder: folder) }
        proxy.stop()
    }

    @Test("a node killed with SIGKILL mid-sync and restarted loses nothing and duplicates nothing")
    func nodeKilledMidSync() throws {
        let folder = try prepare()
        let hub = try HubProcess(folder: folder)
        let proxy = try FaultProxy(targetPort: hub.port, faults: .init(bandwidthBytesPerSecond: 40_000))
        let township = townships[0]
        try enrolAndInit(township, folder: folder, port: proxy.port)
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        let caseID = try firstCase(township, folder: folder)
        #expect(try CLI.run(["node", "note", "--store", "\(township).sqlite", caseID, "离线记录", "--repeat", "400"], in: folder).status == 0)
        for round in 0..<3 {
            let sync = try ChildProcess(CLI.binary.path, ["node", "sync", "--store", "\(township).sqlite"], in: folder)
            Thread.sleep(forTimeInterval: 0.4 + 0.3 * Double(round))
            sync.stop(SIGKILL)
        }
        proxy.faults = .init()
        let finished = try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder)
        #expect(finished.status == 0, "\(finished.error)")
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        try expectConverged(township, folder: folder)
        proxy.stop()
    }

    @Test("a hub killed mid-push and restarted loses nothing; retried batches apply once")
    func hubRestartedMidPush() throws {
        let folder = try prepare()
        var hub = try HubProcess(folder: folder)
        let proxy = try FaultProxy(targetPort: hub.port, faults: .init(bandwidthBytesPerSecond: 30_000))
        let township = townships[1]
        try enrolAndInit(township, folder: folder, port: proxy.port)
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        let caseID = try firstCase(township, folder: folder)
        #expect(try CLI.run(["node", "note", "--store", "\(township).sqlite", caseID, "离线记录", "--repeat", "400"], in: folder).status == 0)
        let sync = try ChildProcess(CLI.binary.path, ["node", "sync", "--store", "\(township).sqlite"], in: folder)
        Thread.sleep(forTimeInterval: 1.0)
        hub.kill()
        hub = try HubProcess(folder: folder)
        proxy.targetPort = hub.port
        proxy.faults = .init()
        sync.wait()
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        try expectConverged(township, folder: folder)
        proxy.stop()
        hub.kill()
    }
}
