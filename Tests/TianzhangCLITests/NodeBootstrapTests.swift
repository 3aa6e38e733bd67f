import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

@Suite("Township node bootstrap: progress, and resuming after a cut link and a killed process", .serialized, .blocksAThread)
struct NodeBootstrapTests {
    @Test("a node killed with SIGKILL mid-bootstrap behind a cutting, slow link resumes where it stopped and ends with the hub's digest")
    func bootstrapResumesAfterKill() throws {
        // A slow link (8 KB/s) that also cuts every connection after 2.5 KB (a page of 20 changes is 1.2–1.8 KB gzipped): the bootstrap takes many pages and retries.
        let world = try NodeWorld(parcels: "30-40", faults: .init(bandwidthBytesPerSecond: 8_000, cutAfterBytes: 2_500))
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        let store = world.folder.appendingPathComponent("node.sqlite")

        let first = try ChildProcess(CLI.binary.path, ["node", "sync", "--store", "node.sqlite", "--page-size", "20", "--timeout", "4"], in: world.folder)
        // Kill it once at least two pages are committed (polled through an independent reader), long
        // before the end: the township has about 200 changes and the link carries 8 KB/s and is cut every few pages.
        var held = 0
        for _ in 0..<600 where held < 40 && first.isRunning {
            held = (try? sqlCount(store, "select count(*) from change_log")) ?? 0
            if held < 40 { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(first.stop(SIGKILL).signal == SIGKILL, "the first sync must have been killed, not finished")
        let kept = try sqlCount(store, "select count(*) from change_log where delivery = 'received'")
        #expect(kept >= 40)
        #expect(try sqlText(store, "select count(*) from setting where key = 'bootstrap.completed'") == "0")

        // Restart: it says where it resumes, shows progress lines (stderr is not a terminal), and pulls only the rest.
        let second = try CLI.run(["node", "sync", "--store", "node.sqlite", "--page-size", "20", "--timeout", "4", "--json"], in: world.folder)
        let report = try world.json(second)
        #expect(second.error.contains("resuming bootstrap after \(kept) records"), "\(second.error)")
        #expect(second.error.contains("records/s") && second.error.contains("KiB/s"), "\(second.error)")
        #expect(report["resumedBootstrapAfter"] as? Int == kept)
        let received = try #require(report["received"] as? Int)
        let total = try sqlCount(store, "select count(*) from change_log where delivery = 'received'")
        #expect(received < total, "no restart from zero")
        #expect(kept + received == total, "nothing pulled twice")
        #expect(report["pages"] as? Int ?? 0 >= 2)
        #expect(report["estimatedTotal"] as? Int == received, "the hub's estimate of what remained was exact on a quiet hub")
        #expect(second.error.contains("of ~\(received) ("), "progress lines show the estimated total: \(second.error)")
        #expect(world.proxy.statistics.cuts >= 1, "the link must actually have been cut")
        let digests = try world.digest("node.sqlite")
        #expect(digests.node == digests.hub)

        // Bootstrap done: the next sync does not claim to resume, and has nothing to pull.
        let third = try CLI.run(["node", "sync", "--store", "node.sqlite"], in: world.folder)
        #expect(third.status == 0 && !third.error.contains("resuming bootstrap"))
        #expect(third.output.contains("received 0 in 1 page(s)"), "\(third.output)")
    }

    @Test("on a terminal the progress is a bar redrawn in place with records, KiB and rates", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func progressBarOnTerminal() throws {
        let world = try NodeWorld()
        try world.enrolAndInit("node:371312001", store: "node.sqlite")
        // `script` runs the command on a pseudo-terminal, so its standard error is a TTY.
        let command = "\(CLI.binary.path) node sync --store node.sqlite --page-size 10"
        let result = try CLI.runCommand("/usr/bin/script", ["-qec", command, "/dev/null"], in: world.folder)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("\r\u{1B}[2Kpull ["), "\(result.output.debugDescription)")
        #expect(result.output.contains("pull [====================] received"), "the bar fills to the hub's estimate: \(result.output.debugDescription)")
        #expect(result.output.contains("(100%"))
        #expect(result.output.contains("records/s") && result.output.contains("KiB/s"))
        #expect(result.output.contains("received 0 in") == false && result.output.contains("page(s)"))
    }
}
