import ArgumentParser
import Foundation
import TianzhangClient
import TianzhangDomain
import TianzhangPostgres
import TianzhangReference
import TianzhangSeed
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// `tianzhang bench-compare`: the project's side of `scripts/bench-compare.sh`. It writes the generated
/// parcels and the edit sets as JSON lines (so the other systems are measured on the very same rows) and
/// prints the project's own figures for them as one JSON object.
///
/// Edit sets, for each size and each share (1 %, 10 %): that share of parcels updated by the township
/// office (`note`, `fieldChief`: operational fields, pushed by the township node and received by the
/// hub, batches of 100), plus a tenth of that share inserted and as many deleted by the county (new
/// parcels; deletion is retirement, `retired = true`, v1 deletes nothing). Concurrent sets for the
/// merge: two offices of the township edit overlapping parcels from the same base.
struct BenchCompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-compare", abstract: "The project's figures for scripts/bench-compare.sh, on data it writes for the other systems.", shouldDisplay: false)

    @Option(help: "Parcels in the township.") var parcels = 25_000
    @Option(help: "Folder for the data files and stores.") var dir: String
    @Option(help: "A PostgreSQL server for the PostgreSQL figures (postgres://…); none: SQLite only.") var postgres: String?
    @Option(help: "Edit shares in percent.") var shares: [Int] = [1, 10]

    struct ShareFigures: Codable {
        var share = 0
        var updates = 0, inserts = 0, deletes = 0
        var sqliteIngestPerSecond = 0.0
        var postgresIngestPerSecond: Double?
        var postgresTwoHubsPerSecond: Double?
        /// gzip(push request JSON) + gzip(push response JSON), per update: the bodies as they travel.
        var wireBytesPerChange = 0.0
    }

    struct Figures: Codable {
        var parcels = 0
        var shares: [ShareFigures] = []
        var mergeChanges = 0
        var mergeConflicts = 0
        var mergePerSecond = 0.0
    }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let catalog = try ReferenceData.landClasses()
        let engine = SyncEngine(configuration: .init(landClasses: catalog))
        var clock = nowMilliseconds()
        func tick() -> Int64 { clock += 1; return clock }
        let (generated, township) = try BenchCommand.township(parcels: parcels, catalog: catalog)
        var figures = Figures(parcels: generated.parcels.count)
        try writeLines("base.jsonl", generated.parcels.map(Self.row))
        log("\(generated.parcels.count) parcels written")

        // The base hub: SQLite, then a copy of it for every edit set.
        let base = dir + "/hub-base.sqlite"
        try? FileManager.default.removeItem(atPath: base)
        let hubID = ReplicaID(kind: .hub, name: generated.county.code.rawValue)
        try recordAtHub(try SQLiteReplicaStore(path: base), engine: engine, hub: hubID, county: generated.county.code, parcels: generated.parcels,
                        chiefs: generated.chiefs, divisions: generated.villages, now: tick())
        // The offices' replicas, bootstrapped in memory from the base hub (setup, not timed).
        let grant = Jurisdiction.township(township.code)
        let office = try bootstrap(ReplicaID(kind: .node, name: township.code.rawValue), grant, from: base, engine: engine, now: tick())
        let annex = try bootstrap(ReplicaID(kind: .node, name: township.code.rawValue + "-annex"), grant, from: base, engine: engine, now: tick())
        log("base hub and two offices ready")

        for share in shares {
            var result = ShareFigures(share: share)
            let count = generated.parcels.count * share / 100
            let stride = max(1, generated.parcels.count / max(1, count))
            let updated = (0..<count).map { generated.parcels[($0 * stride) % generated.parcels.count] }
            let extra = max(1, count / 10)
            let deleted = (0..<extra).map { generated.parcels[($0 * stride + stride / 2) % generated.parcels.count] }
            let inserted = (0..<extra).map { n -> Parcel in
                var parcel = generated.parcels[(n * 7) % generated.parcels.count]
                parcel.id = try! RecordID("\(parcel.village.rawValue)-N\(share)-\(n)")
                return parcel
            }
            (result.updates, result.inserts, result.deletes) = (updated.count, inserted.count, deleted.count)
            let edits = updated.enumerated().map { n, parcel in ["op": "update", "id": parcel.id.rawValue, "note": "巡查 \(share)-\(n)", "field_chief": "chief-\(n % 50)"] as [String: Any] }
                + inserted.map { ["op": "insert"].merging(Self.row($0)) { a, _ in a } }
                + deleted.map { ["op": "delete", "id": $0.id.rawValue] }
            try writeLines("edits-\(share).jsonl", edits)

            // Pushes from the office (half) and the annex (half): the same changes for every store.
            let pushes = try officePushes(updated, share: share, office: office, annex: annex, engine: engine, now: tick())
            var bytes = 0
            let sqlitePath = dir + "/hub-\(share).sqlite"
            try copyStore(base, to: sqlitePath)
            let sqlite = try SQLiteReplicaStore(path: sqlitePath)
            var start = Date()
            var answered: [(PushRequest, PushResponse)] = []
            var phases: [String] = []
            for (sender, push) in pushes.office + pushes.annex {
                let began = Date(), cpu = Self.cpuSeconds()
                let response = try sqlite.write { try engine.receive(push, from: Peer(replica: sender, jurisdiction: grant), originJurisdiction: { _ in grant }, physicalNow: tick(), in: $0) }
                answered.append((push, response))
                phases.append("push of \(push.changes.count) \(Int(Date().timeIntervalSince(began) * 1e6)) µs (CPU \(Int((Self.cpuSeconds() - cpu) * 1e6)) µs)")
            }
            let began = Date()
            try countyEdits(sqlite, inserted: inserted, deleted: deleted, engine: engine, now: tick())
            phases.append("county's \(inserted.count + deleted.count) edits \(Int(Date().timeIntervalSince(began) * 1e6)) µs")
            log("share \(share)%: " + phases.joined(separator: "; "))
            let changes = Double(updated.count + inserted.count + deleted.count)
            result.sqliteIngestPerSecond = changes / Date().timeIntervalSince(start)
            // The bytes as they would travel, worked out after the clock stopped (encoding and gzip are
            // the HTTP layer's work, not the store's).
            for (push, response) in answered {
                bytes += try Wire.gzip(Wire.encoder.encode(push)).count + Wire.gzip(Wire.encoder.encode(response)).count
            }
            result.wireBytesPerChange = Double(bytes) / Double(max(1, updated.count))
            log("share \(share)%: SQLite ingest \(Int(result.sqliteIngestPerSecond))/s")

            if let postgres {
                // One hub process: both offices' pushes in turn. Two: each office through its own hub, at once.
                for hubs in [1, 2] {
                    let schema = "bench_\(share)_\(hubs)_\(ProcessInfo.processInfo.processIdentifier)"
                    let first = try PostgresSyncStore(url: postgres, schema: schema)
                    _ = try first.copy(from: try SQLiteReplicaStore(path: base), credentials: [])
                    let stores = hubs == 1 ? [first, first] : [first, try PostgresSyncStore(url: postgres, schema: schema)]
                    start = Date()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (index, batches) in [pushes.office, pushes.annex].enumerated() {
                            let store = stores[index]
                            let work: @Sendable () throws -> Void = {
                                for (sender, push) in batches {
                                    _ = try store.write { try engine.receive(push, from: Peer(replica: sender, jurisdiction: grant), originJurisdiction: { _ in grant }, physicalNow: 0, in: $0) }
                                }
                            }
                            if hubs == 1 { try work() } else { group.addTask { try await Self.onThread(work) } }
                        }
                        try await group.waitForAll()
                    }
                    try countyEdits(first, inserted: inserted, deleted: deleted, engine: engine, now: tick())
                    let rate = changes / Date().timeIntervalSince(start)
                    if hubs == 1 { result.postgresIngestPerSecond = rate } else { result.postgresTwoHubsPerSecond = rate }
                    log("share \(share)%: PostgreSQL, \(hubs) hub(s): \(Int(rate))/s")
                    try first.dropSchema()
                }
            }
            figures.shares.append(result)
        }

        // Concurrent edits: the office and the annex both edit the notes of overlapping parcels from the same base.
        let overlap = max(2, generated.parcels.count / 20)
        let setA = Array(generated.parcels[0..<overlap]), setB = Array(generated.parcels[(overlap / 2)..<(overlap + overlap / 2)])
        try writeLines("rebase-a.jsonl", setA.enumerated().map { n, p in ["op": "update", "id": p.id.rawValue, "note": "office \(n)"] as [String: Any] })
        try writeLines("rebase-b.jsonl", setB.enumerated().map { n, p in ["op": "update", "id": p.id.rawValue, "note": "annex \(n)", "field_chief": "chief-b"] as [String: Any] })
        let a = try record(setA, on: office, engine: engine, now: tick()) { n, _ in ["note": .set(.string("office \(n)"))] }
        let b = try record(setB, on: annex, engine: engine, now: tick()) { n, _ in ["note": .set(.string("annex \(n)")), "fieldChief": .set("chief-b")] }
        let mergePath = dir + "/hub-merge.sqlite"
        try copyStore(base, to: mergePath)
        let merge = try SQLiteReplicaStore(path: mergePath)
        for push in a { _ = try merge.write { try engine.receive(push, from: Peer(replica: try office.read { try $0.meta()! }.replica, jurisdiction: grant), originJurisdiction: { _ in grant }, physicalNow: tick(), in: $0) } }
        let annexID = try annex.read { try $0.meta()! }.replica
        let start = Date()
        for push in b {
            let response = try merge.write { try engine.receive(push, from: Peer(replica: annexID, jurisdiction: grant), originJurisdiction: { _ in grant }, physicalNow: tick(), in: $0) }
            figures.mergeConflicts += response.results.filter { $0.outcome == .merged }.count
        }
        figures.mergeChanges = setB.count
        figures.mergePerSecond = Double(setB.count) / Date().timeIntervalSince(start)
        log("merge: \(setB.count) concurrent edits, \(figures.mergeConflicts) with a conflict, \(Int(figures.mergePerSecond))/s")
        print(String(decoding: try Wire.encoder.encode(figures), as: UTF8.self))
    }

    /// User and system CPU time of the whole process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Runs blocking store work on a thread of its own (PostgreSQL statements wait on their futures).
    static func onThread(_ work: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            Thread.detachNewThread {
                do { try work(); continuation.resume() } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// The updates as push batches of 100: the first half from the office, the second from the annex.
    func officePushes(_ parcels: [Parcel], share: Int, office: InMemorySyncStore, annex: InMemorySyncStore, engine: SyncEngine, now: Int64) throws
        -> (office: [(ReplicaID, PushRequest)], annex: [(ReplicaID, PushRequest)]) {
        let half = parcels.count / 2
        let fields: (Int, Parcel) -> [String: FieldOperation] = { n, _ in ["note": .set(.string("巡查 \(share)-\(n)")), "fieldChief": .set(.string("chief-\(n % 50)"))] }
        let officeID = try office.read { try $0.meta()! }.replica, annexID = try annex.read { try $0.meta()! }.replica
        let first = try record(Array(parcels[..<half]), on: InMemorySyncStore(copying: office), engine: engine, now: now, fields)
        let second = try record(Array(parcels[half...]), on: InMemorySyncStore(copying: annex), engine: engine, now: now, fields)
        return (first.map { (officeID, $0) }, second.map { (annexID, $0) })
    }

    /// Records `fields` on each parcel at a replica and returns its outbox as push batches of 100.
    func record(_ parcels: [Parcel], on store: InMemorySyncStore, engine: SyncEngine, now: Int64, _ fields: (Int, Parcel) -> [String: FieldOperation]) throws -> [PushRequest] {
        try store.write { tx in
            for (n, parcel) in parcels.enumerated() {
                _ = try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "clerk", fields: fields(n, parcel)), physicalNow: now + Int64(n), in: tx)
            }
        }
        let all = try store.read { try engine.nextPush(limit: parcels.count, in: $0) }?.changes ?? []
        let sender = try store.read { try $0.meta()! }.replica
        return stride(from: 0, to: all.count, by: 100).map { PushRequest(sender: sender, changes: Array(all[$0..<min($0 + 100, all.count)])) }
    }

    /// The county's own edits: new parcels, and retirements (v1's deletion).
    func countyEdits(_ store: any SyncStore, inserted: [Parcel], deleted: [Parcel], engine: SyncEngine, now: Int64) throws {
        try store.write { tx in
            for parcel in inserted {
                _ = try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "dispatcher", fields: creationFields(of: parcel, type: .parcel)), physicalNow: now, in: tx)
            }
            for parcel in deleted {
                _ = try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "dispatcher", fields: ["retired": .set(true)]), physicalNow: now, in: tx)
            }
        }
    }

    /// A replica of the township pulled from the hub store in memory.
    func bootstrap(_ id: ReplicaID, _ grant: Jurisdiction, from hub: String, engine: SyncEngine, now: Int64) throws -> InMemorySyncStore {
        let store = InMemorySyncStore(), server = try SQLiteReplicaStore(path: hub)
        _ = try store.write { try engine.open(replica: id, jurisdiction: grant, in: $0) }
        while true {
            let cursor = try store.read { try $0.checkpoint(peer: "hub") }
            let page = try server.read { try engine.servePull(PullRequest(puller: id, after: cursor, limit: 2_000), for: Peer(replica: id, jurisdiction: grant), in: $0) }
            _ = try store.write { try engine.apply(page, from: "hub", physicalNow: now, in: $0) }
            if !page.more { return store }
        }
    }

    func copyStore(_ source: String, to target: String) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: target + suffix) }
        // VACUUM INTO writes a consistent copy whatever the WAL holds.
        try SQLiteReplicaStore(path: source).writer.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [target]) }
    }

    static func row(_ parcel: Parcel) -> [String: Any] {
        let ring = parcel.geometry.exterior.map { "\($0.longitude) \($0.latitude)" }.joined(separator: ", ")
        return ["id": parcel.id.rawValue, "village": parcel.village.rawValue, "land_class": parcel.landClass, "area_mu": parcel.areaMu,
                "pbf": parcel.isPermanentBasicFarmland ? 1 : 0, "field_chief": parcel.fieldChief ?? "", "note": parcel.note ?? "",
                "wkt": "POLYGON((\(ring)))"]
    }

    func writeLines(_ name: String, _ rows: [[String: Any]]) throws {
        var text = Data()
        for row in rows {
            text.append(try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]))
            text.append(0x0A)
        }
        try text.write(to: URL(fileURLWithPath: dir + "/" + name))
    }

    func log(_ line: String) { FileHandle.standardError.write(Data("bench-compare: \(line)\n".utf8)) }
}
