import Foundation
import Testing
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

/// Collects progress reports from the runner (called from its task).
final class ProgressLog: @unchecked Sendable {
    let lock = NSLock()
    var events: [SyncProgress] = []
    func add(_ event: SyncProgress) { lock.withLock { events.append(event) } }
    var all: [SyncProgress] { lock.withLock { events } }
}

@Suite("Sync progress over HTTP", .serialized)
struct SyncProgressTests {
    let node = try! ReplicaID("node:371312001")
    let township = try! DivisionCode("371312001")

    @Test("the runner reports each pushed batch and pulled page as committed; the last report equals the sync's report")
    func progressPerPageAndBatch() async throws {
        let hub = try await RunningHub()
        let cases = HubServerTests()
        try hub.store.write { tx in
            for n in 1...23 {
                let change = cases.newCase(UInt64(n), id: String(format: "01JD00000000000000000001%02d", n))
                _ = try SyncEngine().record(Draft(type: .enforcementCase, id: change.recordID, scope: change.scope, author: "dispatcher", fields: change.fields), physicalNow: hub.now, in: tx)
            }
        }
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let nodeStore = try SQLiteReplicaStore(inMemory: ())
        let client = SyncClient(baseURL: hub.url, credential: secret)
        let engine = SyncEngine()
        try nodeStore.write { tx in _ = try engine.open(replica: node, jurisdiction: .township(township), credential: secret, in: tx) }
        var runner = SyncRunner(store: nodeStore, engine: engine, client: client, replica: node, clock: { 1_763_884_800_000 })
        runner.pageChangesMax = 5
        runner.batchChangesMax = 2
        let log = ProgressLog()
        runner.observer = { log.add($0) }

        let bootstrap = try await runner.sync()
        let pulls = log.all.filter { $0.phase == .pull }
        #expect(bootstrap.received == 23)
        #expect(pulls.map(\.pages) == Array(1...bootstrap.pages))
        #expect(zip(pulls, pulls.dropFirst()).allSatisfy { $0.received < $1.received } && pulls.last?.received == 23)
        if bootstrap.attempts == 1 {
            // No retry on the way (a loaded machine may time a request out; a retry widens the page to 10).
            #expect(pulls.map(\.received) == [5, 10, 15, 20, 23])
        }
        #expect(bootstrap.estimatedTotal == 23, "the hub's estimate on the first page: 5 received + 18 remaining")
        #expect(pulls.allSatisfy { $0.estimatedTotal == 23 } && pulls.last?.fraction == 1)
        #expect(zip(pulls, pulls.dropFirst()).allSatisfy { $0.bytesReceived < $1.bytesReceived && $0.elapsedSeconds <= $1.elapsedSeconds })
        #expect(pulls.last?.bytesReceived == bootstrap.bytesReceived && bootstrap.bytesReceived > 0)
        #expect(log.all.allSatisfy { $0.phase != .push }, "nothing to push on a bootstrap")

        // Three local edits go up in batches of two: two push reports, then one empty page.
        try nodeStore.write { tx in
            for n in 1...3 {
                _ = try engine.record(Draft(type: .enforcementCase, id: String(format: "01JD00000000000000000001%02d", n), scope: try DivisionCode("371312001201"), author: "clerk",
                                            fields: ["summary": .set(.string("edit \(n)"))]), physicalNow: 1_763_884_801_000, in: tx)
            }
        }
        let before = log.all.count
        let edits = try await runner.sync()
        let later = Array(log.all.dropFirst(before))
        if edits.attempts == 1 { #expect(later.filter { $0.phase == .push }.map(\.sent) == [2, 3]) }
        #expect(later.filter { $0.phase == .push }.last?.sent == 3)
        #expect(edits.sent == 3 && edits.accepted == 3 && edits.bytesSent == later.filter { $0.phase == .push }.last?.bytesSent)
        #expect(edits.rejections.isEmpty && edits.conflictDetails.isEmpty)
    }

    @Test("the hub counts what remains only when asked, with the pull's own filter")
    func remainingOnlyWhenAsked() async throws {
        let hub = try await RunningHub()
        let cases = HubServerTests()
        try hub.store.write { tx in
            for n in 1...7 {
                let change = cases.newCase(UInt64(n), id: String(format: "01JD00000000000000000002%02d", n))
                _ = try SyncEngine().record(Draft(type: .enforcementCase, id: change.recordID, scope: change.scope, author: "dispatcher", fields: change.fields), physicalNow: hub.now, in: tx)
            }
            // One case in another township: not this puller's, not counted.
            let other = cases.newCase(8, village: "371312004201", id: "01JD0000000000000000000299")
            _ = try SyncEngine().record(Draft(type: .enforcementCase, id: other.recordID, scope: other.scope, author: "dispatcher", fields: other.fields), physicalNow: hub.now, in: tx)
        }
        let secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let client = SyncClient(baseURL: hub.url, credential: secret)
        let plain = try await client.pull(PullRequest(puller: node, after: 0, limit: 3))
        #expect(plain.remaining == nil && plain.changes.count == 3)
        let asked = try await client.pull(PullRequest(puller: node, after: 0, limit: 3, estimate: true))
        #expect(asked.remaining == 4 && asked.more)
        let last = try await client.pull(PullRequest(puller: node, after: asked.next, limit: 10, estimate: true))
        #expect(last.changes.count == 4 && !last.more && last.remaining == 0)
    }
}
