import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

@Suite("A node process behind a link that stalls", .serialized, .blocksAThread)
struct StalledLinkCLITests {
    let township = "371312004"

    @Test("node sync abandons a stalled request by its low-speed limit, says so, and completes once the link moves again")
    func stalledSyncRecovers() throws {
        let weak = WeakLinkTests()
        let folder = try weak.prepare()
        let hub = try HubProcess(folder: folder)
        let proxy = try FaultProxy(targetPort: hub.port)
        try weak.enrolAndInit(township, folder: folder, port: proxy.port)
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        let caseID = try weak.firstCase(township, folder: folder)
        #expect(try CLI.run(["node", "note", "--store", "\(township).sqlite", caseID, "链路停滞", "--repeat", "20"], in: folder).status == 0)
        proxy.faults = .init(stallAfterBytes: 100)
        let sync = try ChildProcess(CLI.binary.path, ["node", "sync", "--store", "\(township).sqlite", "--low-speed-limit", "64", "--low-speed-time", "1"],
                                    in: folder, stderr: .pipe)
        let errors = try #require(sync.errors)
        // Read the node's progress until it reports the stall; then let the link move again.
        var text = ""
        while !text.contains("link failed") {
            let chunk = errors.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        proxy.faults = .init()
        text += String(decoding: errors.readDataToEndOfFile(), as: UTF8.self)
        let ending = sync.wait()
        #expect(text.contains("the link stalled below 64 B/s for 1 s"), "\(text)")
        #expect(ending.status == 0, "\(text)")
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        try weak.expectConverged(township, folder: folder)
        proxy.stop()
        hub.kill()
    }

    @Test("link limits that are not positive are refused")
    func badLimits() throws {
        let folder = try CLI.folder()
        let result = try CLI.run(["node", "sync", "--store", "missing.sqlite", "--low-speed-time", "0"], in: folder)
        #expect(result.status != 0)
        #expect(result.error.contains("must be positive"), "\(result.error)")
    }
}
