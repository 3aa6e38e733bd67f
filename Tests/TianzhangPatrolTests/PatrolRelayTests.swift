import Foundation
import Testing
import TianzhangTestGate
import TianzhangDomain
import TianzhangHTTP
import TianzhangPatrol
import TianzhangSQLite
import TianzhangStore
import TianzhangSync
import TianzhangTesting

/// A real hub and a real township node serving its patrols, each a Hummingbird server on a loopback port,
/// with fault-injecting proxies on both links: patrol → node, and node → hub.
final class RelayWorld: @unchecked Sendable {
    let world: PatrolWorld
    let hubTask: Task<Void, any Error>, nodeTask: Task<Void, any Error>
    let node: SQLiteReplicaStore
    let nodeRunner: SyncRunner
    let patrolLink: FaultProxy, hubLink: FaultProxy
    let patrolSecret: String

    static func serve(_ run: @escaping @Sendable (@escaping @Sendable (Int) async -> Void) async throws -> Void) async -> (Task<Void, any Error>, Int) {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task { try await run { continuation.yield($0) } }
        var port = 0
        for await bound in ports { port = bound; break }
        return (task, port)
    }

    init() async throws {
        let world = try PatrolWorld()
        self.world = world
        let engine = world.engine
        let hubServer = try HubServer(store: world.hub, engine: engine, county: world.village.county, configuration: .init(host: "127.0.0.1", port: 0))
        let (hubTask, hubPort) = await Self.serve { try await hubServer.run(onRunning: $0) }
        self.hubTask = hubTask
        // The township node: enrolled, bootstrapped, then it learns the patrol's enrolment on its next sync.
        let nodeID = try ReplicaID("node:371312001")
        let nodeSecret = try world.hub.enrol(nodeID, jurisdiction: .township(world.village.township!), now: PatrolWorld.start)
        patrolSecret = try world.hub.enrol(try ReplicaID("patrol:chief-371312001201-tab"), jurisdiction: .villages([world.village]), now: PatrolWorld.start)
        let node = try SQLiteReplicaStore(path: world.folder.appendingPathComponent("node.sqlite").path)
        self.node = node
        try node.write { tx in _ = try engine.open(replica: nodeID, jurisdiction: .township(world.village.township!), credential: nodeSecret, in: tx) }
        let hubLink = try FaultProxy(targetPort: hubPort)
        self.hubLink = hubLink
        var runner = SyncRunner(store: node, engine: engine, client: SyncClient(baseURL: URL(string: "http://127.0.0.1:\(hubLink.port)")!, credential: nodeSecret,
                                options: .init(connectTimeout: 2, totalTimeout: 30)), replica: nodeID)
        runner.backoffFirst = .milliseconds(20)
        nodeRunner = runner
        _ = try await nodeRunner.syncInScope()
        let nodeServer = try ReplicaServer.node(store: node, engine: engine, configuration: .init(host: "127.0.0.1", port: 0))
        let (nodeTask, nodePort) = await Self.serve { try await nodeServer.run(onRunning: $0) }
        self.nodeTask = nodeTask
        patrolLink = try FaultProxy(targetPort: nodePort)
    }

    /// A patrol device (its own store) enrolled through the node.
    func patrol(_ name: String) async throws -> PatrolClient {
        let clock = world.clock
        let patrol = try PatrolClient(storePath: world.folder.appendingPathComponent("\(name).sqlite").path, clock: { clock.now },
                                      location: FixedLocation(longitude: 118.4005, latitude: 35.1004))
        try await patrol.enrol(upstream: URL(string: "http://127.0.0.1:\(patrolLink.port)")!, credential: patrolSecret,
                               replica: try ReplicaID("patrol:chief-371312001201-tab"), person: "chief-371312001201",
                               options: .init(connectTimeout: 2, totalTimeout: 30))
        return patrol
    }

    deinit {
        patrolLink.stop()
        hubLink.stop()
    }
}

@Suite("A patrol device through a township node, over real HTTP", .serialized, .blocksAThread)
struct PatrolRelayTests {
    @Test("a report made offline reaches the hub through a node that was itself offline for a while; the device stays its origin and its photo arrives whole",
          arguments: [11, 29, 47] as [UInt64])
    func offlineReportThroughOfflineNode(seed: UInt64) async throws {
        let relay = try await RelayWorld()
        let patrol = try await relay.patrol("patrol-\(seed)")
        let options = SyncClient.Options(connectTimeout: 2, totalTimeout: 30)
        _ = try await patrol.sync(options: options)
        #expect(try patrol.store.parcels(inVillage: relay.world.village).count == 2, "the device holds its village's map")
        #expect(try patrol.tasks().count == 1, "and the task pushed to its field chief")

        // In the field, no signal; the township office has lost its link to the county too.
        relay.hubLink.faults = .init(refuse: true)
        let photo = try relay.world.photo("dig-\(seed).jpg", bytes: 300_000, seed: UInt8(seed))
        let checkIn = try await patrol.checkIn(parcel: "371312001201-0001", observation: "挖掘机 excavator at the edge")
        let report = try await patrol.report(violation: .soilExtraction, note: "取土 about 2 mu", photos: [photo])
        #expect(try patrol.pending().notYetSent == 4)

        // Back in signal, on a link to the node that cuts every connection at a random byte.
        var rng = SplitMix64(seed: seed)
        relay.patrolLink.faults = .init(cutAfterBytes: Int.random(in: 20_000...60_000, using: &rng))
        let toNode = try await patrol.sync(options: options)
        #expect(toNode.sent == 4 && toNode.rejected.isEmpty)
        #expect(toNode.attachmentsUploaded == 1)
        #expect(relay.patrolLink.statistics.cuts > 0, "the link really was cut")
        // Every connection is cut long before 300 KB have crossed it: the photo can only arrive whole
        // because each attempt resumed from the byte the node had confirmed, never from zero.
        #expect(relay.patrolLink.faults.cutAfterBytes < 300_004)
        #expect(toNode.attachmentBytesSent > 0 && toNode.attachmentBytesSent <= 300_004, "no confirmed byte was sent twice")
        let nodeVault = try AttachmentVault(besideStore: relay.node.path!)
        #expect(try Data(contentsOf: nodeVault.url(of: report.photos[0])) == Data(contentsOf: photo), "the node holds the photo, verified")
        #expect(try relay.world.hub.enforcementCase(report.caseRecord.id.rawValue) == nil, "the county has not seen it yet")
        #expect(try patrol.pending().notYetSent == 0 && patrol.pending().notYetAtCounty == 4, "forwarded: the node has it, the county not yet")

        // The office's link comes back: the node relays the device's changes and its photo.
        relay.hubLink.faults = .init()
        let toHub = try await relay.nodeRunner.syncInScope()
        #expect(toHub.attachmentsUploaded == 1)
        let atHub = try #require(try relay.world.hub.enforcementCase(report.caseRecord.id.rawValue))
        #expect(atHub.source == .patrol && atHub.summary == "取土 about 2 mu")
        let origin = try relay.world.hub.read { tx in try tx.foldableChanges(of: RecordKey(.enforcementCase, report.caseRecord.id.rawValue)) }.map(\.origin)
        #expect(origin == [try ReplicaID("patrol:chief-371312001201-tab")])
        #expect(try relay.world.hub.checkIn(checkIn.id.rawValue) != nil)
        let hubVault = try AttachmentVault(besideStore: relay.world.hub.path!)
        #expect(try Data(contentsOf: hubVault.url(of: report.photos[0])) == Data(contentsOf: photo))

        // The county's receipt travels back down: the device knows its work reached the county.
        relay.patrolLink.faults = .init()
        _ = try await patrol.sync(options: options)
        #expect(try patrol.pending().items.isEmpty)
    }
}
