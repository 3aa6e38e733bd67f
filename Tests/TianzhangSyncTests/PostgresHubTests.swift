import Foundation
import Synchronization
import Testing
import TianzhangTestGate
import TianzhangDomain
import TianzhangPostgres
import TianzhangStore
import TianzhangSync
import TianzhangTesting

/// Several hub processes on one PostgreSQL database: each hub is a `PostgresSyncStore` with its own
/// connection (as each hub process has), all on one schema.
@Suite("PostgreSQL: several hubs on one database", .serialized, .blocksAThread, .enabled(if: TestPostgres.enabled))
struct PostgresHubTests {
    let engine = SyncEngine()
    let county = Jurisdiction.county(try! DivisionCode("371312"))
    let hubID = try! ReplicaID("hub:371312")
    let now: Int64 = 1_763_884_800_000

    /// `count` hubs on one fresh schema, the county's hub replica opened once.
    func hubs(_ count: Int, ordered: Bool = true) throws -> [PostgresSyncStore] {
        let url = try TestPostgres.url(), schema = TestPostgres.freshSchema()
        let stores = try (0..<count).map { _ in try PostgresSyncStore(url: url, schema: schema, orderedCommits: ordered) }
        _ = try stores[0].write { try engine.open(replica: hubID, jurisdiction: county, in: $0) }
        return stores
    }

    /// A township node (in memory) with `count` new cases recorded offline; returns it and its push.
    func township(_ code: String, cases count: Int) throws -> (ReplicaID, Jurisdiction, PushRequest) {
        let node = InMemorySyncStore(), id = try ReplicaID("node:\(code)"), township = Jurisdiction.township(try DivisionCode(code))
        let village = try DivisionCode(code + "201")
        _ = try node.write { try engine.open(replica: id, jurisdiction: township, in: $0) }
        var trio = try Trio()
        trio.now = now
        for index in 0..<count {
            _ = try node.write { try engine.record(trio.newCase("C-\(code)-\(index)", village: village), physicalNow: now, in: $0) }
        }
        let push = try #require(try node.read { try engine.nextPush(limit: count, in: $0) })
        return (id, township, push)
    }

    func receive(_ push: PushRequest, from node: ReplicaID, _ township: Jurisdiction, at hub: PostgresSyncStore) throws -> PushResponse {
        try hub.write { try engine.receive(push, from: Peer(replica: node, jurisdiction: township), originJurisdiction: { _ in township }, physicalNow: now, in: $0) }
    }

    /// Pulls everything after `cursor` the way a node does (pages, then the checkpoint moves).
    func pullAll(from hub: PostgresSyncStore, after cursor: inout UInt64, seen: inout [ChangeID]) throws {
        while true {
            let page = try hub.read { try $0.logPage(after: cursor, in: county, excluding: nil, limit: 7) }
            seen += page.entries.map(\.change.id)
            cursor = page.scannedThrough
            if !page.more { return }
        }
    }

    /// The store's part alone: two hubs append one township change each to the log (as `receive`
    /// does, without the hub's own receipt, which both hubs would number from the shared replica meta —
    /// another thing the ordered commits protect).
    @Test("a change whose transaction commits after a later one is never skipped by a puller; without ordered commits the same interleaving loses it",
          arguments: [true, false])
    func lateCommitIsNotSkipped(ordered: Bool) throws {
        let stores = try hubs(3, ordered: ordered)
        let (hubA, hubB, puller) = (stores[0], stores[1], stores[2])
        let changeA = try township("371312001", cases: 1).2.changes[0], changeB = try township("371312004", cases: 1).2.changes[0]

        // Hub A takes its sequence number first and holds its transaction open; hub B writes after it.
        let appended = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let aDone = DispatchSemaphore(value: 0), bDone = DispatchSemaphore(value: 0)
        let errors = Mutex<[String]>([])
        Thread.detachNewThread {
            do {
                try hubA.write { tx in
                    _ = try tx.appendLog(changeA, delivery: .atCounty, rejection: nil)
                    appended.signal()
                    release.wait()
                }
            } catch { errors.withLock { $0.append("hub A: \(String(reflecting: error))") } }
            aDone.signal()
        }
        appended.wait()
        Thread.detachNewThread {
            do { try hubB.write { tx in _ = try tx.appendLog(changeB, delivery: .atCounty, rejection: nil) } } catch {
                errors.withLock { $0.append("hub B: \(String(reflecting: error))") }
            }
            bDone.signal()
        }
        // Unordered, B commits at once; ordered, B waits for A's commit (and must still be waiting).
        let bFinishedEarly = bDone.wait(timeout: .now() + 2) == .success
        #expect(bFinishedEarly == !ordered)

        var cursor: UInt64 = 0, seen: [ChangeID] = []
        try pullAll(from: puller, after: &cursor, seen: &seen)
        release.signal()
        aDone.wait()
        if !bFinishedEarly { bDone.wait() }
        try pullAll(from: puller, after: &cursor, seen: &seen)
        #expect(errors.withLock { $0 } == [])

        let everything = try puller.read { try $0.logPage(after: 0, in: county, excluding: nil, limit: 10_000).entries.map(\.change.id) }
        #expect(Set(everything) == [changeA.id, changeB.id])
        if ordered {
            #expect(seen.sorted() == everything.sorted(), "the puller saw every change, none twice")
        } else {
            #expect(seen == [changeB.id], "unordered commits: the puller's cursor passed hub A's change before it committed")
        }
    }

    @Test("two hubs taking pushes from six townships at once while a node pulls: the puller ends with every change exactly once")
    func concurrentHubsAndPuller() throws {
        let stores = try hubs(3)
        let townships = try ["371312001", "371312002", "371312003", "371312004", "371312005", "371312006"].map { try township($0, cases: 40) }
        let finished = DispatchGroup(), errors = Mutex<[String]>([])
        for (index, (node, township, push)) in townships.enumerated() {
            let hub = stores[index % 2]
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                // Batches of 8, as a node pushes them.
                for start in stride(from: 0, to: push.changes.count, by: 8) {
                    let batch = PushRequest(sender: node, changes: Array(push.changes[start..<min(start + 8, push.changes.count)]))
                    do { _ = try receive(batch, from: node, township, at: hub) } catch { errors.withLock { $0.append("\(error)") } }
                }
            }
        }
        var cursor: UInt64 = 0, seen: [ChangeID] = []
        while finished.wait(timeout: .now() + 0.005) == .timedOut { try pullAll(from: stores[2], after: &cursor, seen: &seen) }
        try pullAll(from: stores[2], after: &cursor, seen: &seen)
        #expect(errors.withLock { $0 } == [])
        let everything = try stores[2].read { try $0.logPage(after: 0, in: county, excluding: nil, limit: 100_000).entries.map(\.change.id) }
        let sent = Set(townships.flatMap { $0.2.changes.map(\.id) })
        #expect(sent.isSubset(of: Set(everything)), "every township change is at the county")
        #expect(seen.sorted() == everything.sorted(), "the puller saw every change in the log")
        #expect(Set(seen).count == seen.count, "and none twice")
    }

    @Test("the same batch reaching two hubs at once is applied once: one hub accepts it, the other answers duplicate")
    func sameBatchAtTwoHubs() throws {
        let stores = try hubs(2)
        let (node, township, push) = try township("371312001", cases: 12)
        let answers = Mutex<[PushResponse]>([]), errors = Mutex<[String]>([])
        let finished = DispatchGroup()
        for hub in stores {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                do { let answer = try receive(push, from: node, township, at: hub); answers.withLock { $0.append(answer) } } catch {
                    errors.withLock { $0.append("\(error)") }
                }
            }
        }
        finished.wait()
        #expect(errors.withLock { $0 } == [])
        let outcomes = answers.withLock { $0 }.map { Set($0.results.map(\.outcome)) }
        #expect(outcomes.count == 2)
        #expect(outcomes.filter { $0 == [.duplicate] }.count == 1, "one hub answered duplicate for every change: \(outcomes)")
        #expect(outcomes.filter { !$0.contains(.duplicate) }.count == 1, "the other applied them: \(outcomes)")
        let ids = try stores[0].read { try $0.logPage(after: 0, in: county, excluding: nil, limit: 10_000).entries.map(\.change.id) }
        for change in push.changes { #expect(ids.filter { $0 == change.id }.count == 1, "\(change.id) is in the log once") }
    }
}
