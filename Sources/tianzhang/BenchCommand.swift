import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangReference
import TianzhangSQLite
import TianzhangSeed
import TianzhangSync
import TianzhangTesting

/// `tianzhang bench`: the first benchmarks of the hub and a township node over real HTTP on loopback,
/// with a byte-counting (or bandwidth-capping) proxy between them. Prints figures, asserts nothing:
/// the targets and the side-by-side comparison come with issue 6 (`scripts/bench.sh`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure bootstrap, push and pull throughput, and a sync through a slow, high-latency link.")

    @Option(help: "Parcels in the township bootstrapped.") var parcels = 25_000
    @Option(help: "Changes pushed and pulled for the throughput figures.") var changes = 10_000
    @Option(help: "Changes synced through the slow link.") var slowChanges = 1_000
    @Option(help: "Bandwidth of the slow link, in kbit/s.") var kbits = 256
    @Option(help: "One-way latency of the slow link, in ms (added per forwarded chunk).") var latency = 300
    @Option(help: "Folder for the stores (default: a new temporary folder, removed afterwards).") var dir: String?
    @Flag(help: "Print the figures as JSON.") var json = false

    struct Figures: Codable {
        var parcels = 0
        var hubIngestSeconds = 0.0
        var hubIngestChangesPerSecond = 0.0
        var bootstrapSeconds = 0.0
        var bootstrapWireBytes = 0
        var bootstrapBytesPerParcel = 0.0
        var geojsonGzipBytes = 0
        var bootstrapToGeoJSONGzip = 0.0
        var changes = 0
        var pushSeconds = 0.0
        var pushChangesPerSecond = 0.0
        var pushWireBytes = 0
        var pushBytesPerChange = 0.0
        var pullSeconds = 0.0
        var pullChangesPerSecond = 0.0
        var pullWireBytes = 0
        var slowChanges = 0
        var slowLinkKbits = 0
        var slowLinkLatencyMilliseconds = 0
        var slowSeconds = 0.0
        var slowWireBytes = 0
        var slowRequests = 0
        var slowBoundSeconds = 0.0
        var slowToBound = 0.0
    }

    func run() async throws {
        let temporary = dir == nil
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-bench-\(ProcessInfo.processInfo.processIdentifier)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(atPath: folder) } }
        var figures = Figures()
        var clock = nowMilliseconds()
        func tick() -> Int64 { clock += 1; return clock }
        let catalog = try ReferenceData.landClasses()
        let engine = SyncEngine(configuration: .init(landClasses: catalog))

        let (generated, township) = try Self.township(parcels: parcels, catalog: catalog)
        let villages = generated.villages.filter { $0.code.level == .village }.count
        figures.parcels = generated.parcels.count
        log("generated \(generated.parcels.count) parcels in \(villages) villages of \(township.code) \(township.name)")

        let hubStore = try SQLiteReplicaStore(path: folder + "/hub.sqlite")
        let hubID = ReplicaID(kind: .hub, name: generated.county.code.rawValue)
        let ingestStart = Date()
        try recordAtHub(hubStore, engine: engine, hub: hubID, county: generated.county.code, parcels: generated.parcels, cases: generated.cases,
                        chiefs: generated.chiefs, divisions: generated.villages, now: tick())
        figures.hubIngestSeconds = Date().timeIntervalSince(ingestStart)
        let ingested = generated.parcels.count + generated.cases.count + generated.chiefs.count + generated.villages.count
        figures.hubIngestChangesPerSecond = Double(ingested) / figures.hubIngestSeconds
        figures.geojsonGzipBytes = try Wire.gzip(GeoJSON.featureCollection(parcels: generated.parcels, synthetic: true)).count

        let server = try HubServer(store: hubStore, engine: engine, county: generated.county.code, configuration: .init(host: "127.0.0.1", port: 0))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let serverTask = Task { try await server.run { continuation.yield($0) } }
        defer { serverTask.cancel() }
        var hubPort = 0
        for await bound in ports { hubPort = bound; break }
        let proxy = try FaultProxy(targetPort: hubPort)
        defer { proxy.stop() }

        func node(_ name: String) async throws -> SyncRunner {
            let id = ReplicaID(kind: .node, name: name)
            let secret = try hubStore.enrol(id, jurisdiction: .township(township.code), now: tick())
            let store = try SQLiteReplicaStore(path: folder + "/node-\(name).sqlite")
            try store.write { tx in _ = try engine.open(replica: id, jurisdiction: .township(township.code), in: tx) }
            let client = SyncClient(baseURL: URL(string: "http://127.0.0.1:\(proxy.port)")!, credential: secret, timeout: 120)
            return SyncRunner(store: store, engine: engine, client: client, replica: id)
        }

        // Bootstrap.
        let a = try await node("bench-a")
        var bytesBefore = proxy.statistics.bytes
        var start = Date()
        let bootstrap = try await a.sync()
        figures.bootstrapSeconds = Date().timeIntervalSince(start)
        figures.bootstrapWireBytes = proxy.statistics.bytes - bytesBefore
        figures.bootstrapBytesPerParcel = Double(figures.bootstrapWireBytes) / Double(generated.parcels.count)
        figures.bootstrapToGeoJSONGzip = Double(figures.bootstrapWireBytes) / Double(figures.geojsonGzipBytes)
        log("bootstrap: \(bootstrap.received) changes in \(seconds(figures.bootstrapSeconds))")

        // Push throughput: `changes` offline edits of parcels' operational notes at node A.
        let edited = Array(generated.parcels.prefix(changes))
        figures.changes = edited.count
        try a.store.write { tx in
            for (n, parcel) in edited.enumerated() {
                try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "clerk", fields: ["note": .set(.string("ditch checked \(n)"))]), physicalNow: tick(), in: tx)
            }
        }
        let b = try await node("bench-b")
        _ = try await b.sync()
        bytesBefore = proxy.statistics.bytes
        start = Date()
        let pushed = try await a.sync()
        figures.pushSeconds = Date().timeIntervalSince(start)
        figures.pushWireBytes = proxy.statistics.bytes - bytesBefore
        figures.pushChangesPerSecond = Double(pushed.sent) / figures.pushSeconds
        figures.pushBytesPerChange = Double(figures.pushWireBytes) / Double(max(1, pushed.sent))
        log("push: \(pushed.sent) changes in \(seconds(figures.pushSeconds))")

        // Pull throughput: node B pulls them (and the hub's receipts).
        bytesBefore = proxy.statistics.bytes
        start = Date()
        let pulled = try await b.sync()
        figures.pullSeconds = Date().timeIntervalSince(start)
        figures.pullWireBytes = proxy.statistics.bytes - bytesBefore
        figures.pullChangesPerSecond = Double(pulled.received) / figures.pullSeconds
        log("pull: \(pulled.received) changes in \(seconds(figures.pullSeconds))")

        // A slow link: `slowChanges` edits pushed through a capped, high-latency link.
        let slowEdits = Array(generated.parcels.suffix(slowChanges))
        figures.slowChanges = slowEdits.count
        try a.store.write { tx in
            for (n, parcel) in slowEdits.enumerated() {
                try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "clerk", fields: ["fieldChief": .set(.string("chief-\(n % 40)"))]), physicalNow: tick(), in: tx)
            }
        }
        let bandwidth = kbits * 1000 / 8
        proxy.faults = FaultProxy.Faults(latencyMilliseconds: latency, bandwidthBytesPerSecond: bandwidth)
        figures.slowLinkKbits = kbits
        figures.slowLinkLatencyMilliseconds = latency
        bytesBefore = proxy.statistics.bytes
        start = Date()
        let slow = try await a.sync()
        figures.slowSeconds = Date().timeIntervalSince(start)
        figures.slowWireBytes = proxy.statistics.bytes - bytesBefore
        // Each push batch and each pull page is one request: a round trip is 2 × latency.
        figures.slowRequests = (slow.sent + a.batchChangesMax - 1) / a.batchChangesMax + max(1, (slow.received + a.pageChangesMax - 1) / a.pageChangesMax)
        figures.slowBoundSeconds = Double(figures.slowWireBytes) / Double(bandwidth) + Double(figures.slowRequests) * 2 * Double(latency) / 1000
        figures.slowToBound = figures.slowSeconds / figures.slowBoundSeconds

        if json {
            print(String(decoding: try Wire.encoder.encode(figures), as: UTF8.self))
            return
        }
        print("""

        Tianzhang benchmarks (one township of county 371312; hub and node over HTTP on loopback; bytes counted on the wire)
        | measure | figure |
        | --- | --- |
        | hub ingest of the township (\(ingested) changes, one transaction) | \(seconds(figures.hubIngestSeconds)), \(rate(figures.hubIngestChangesPerSecond)) changes/s |
        | bootstrap of \(figures.parcels) parcels | \(seconds(figures.bootstrapSeconds)), \(kib(figures.bootstrapWireBytes)) on the wire, \(String(format: "%.0f", figures.bootstrapBytesPerParcel)) B/parcel |
        | … next to gzip(GeoJSON) of the same parcels | \(kib(figures.geojsonGzipBytes)): bootstrap is \(String(format: "%.2f", figures.bootstrapToGeoJSONGzip))× |
        | push of \(figures.changes) changes | \(seconds(figures.pushSeconds)), \(rate(figures.pushChangesPerSecond)) changes/s, \(String(format: "%.0f", figures.pushBytesPerChange)) B/change on the wire (both ways) |
        | pull of \(pulled.received) changes | \(seconds(figures.pullSeconds)), \(rate(figures.pullChangesPerSecond)) changes/s, \(kib(figures.pullWireBytes)) |
        | sync of \(figures.slowChanges) changes at \(kbits) kbit/s, \(latency) ms | \(seconds(figures.slowSeconds)), \(kib(figures.slowWireBytes)), \(figures.slowRequests) requests; bound \(seconds(figures.slowBoundSeconds)) → \(String(format: "%.2f", figures.slowToBound))× the bound |
        """)
    }

    /// One township of the real county 371312 with about `parcels` parcels in 25 villages (seed 7): the
    /// data every benchmark runs on.
    static func township(parcels: Int, catalog: LandClassCatalog) throws -> (GeneratedCounty, Division) {
        let divisions = try ReferenceData.county("371312")
        let township = divisions.townships[0]
        let villages = 25
        let perVillage = max(1, parcels / villages)
        let generated = CountyGenerator(
            configuration: .init(seed: 7, villagesPerTownship: villages...villages, parcelsPerVillage: perVillage...perVillage, casesPerTownship: 3),
            landClasses: catalog
        ).generate(county: CountyDivisions(county: divisions.county, townships: [township]))
        return (generated, township)
    }

    func log(_ line: String) { FileHandle.standardError.write(Data("bench: \(line)\n".utf8)) }
    func seconds(_ value: Double) -> String { String(format: "%.2f s", value) }
    func rate(_ value: Double) -> String { String(format: "%.0f", value) }
    func kib(_ bytes: Int) -> String { String(format: "%.1f KiB", Double(bytes) / 1024) }
}
