import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangSQLite
import TianzhangStore
import TianzhangSync
import TianzhangTesting

/// `tianzhang bench-admission`: how long one push of the largest polygons the limits allow holds the
/// receiver's write path, and how long their validation takes outside it (issue 10, finding 5).
/// Prints figures, asserts nothing.
struct BenchAdmissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-admission",
        abstract: "Measure the write-path hold time of a push carrying the largest polygon allowed, and its validation outside the lock.")

    @Option(help: "Pushes per case (the worst is reported).") var repeats = 5
    @Option(help: "Folder for the store (default: a new temporary folder, removed afterwards).") var dir: String?
    @Flag(help: "Print the figures as JSON.") var json = false

    struct Row: Codable {
        var name: String
        var changes: Int
        var positions: Int
        var bodyBytes: Int
        var outcome: String
        /// Validation and signature verification before the write transactions (`Admission.precheck`,
        /// `verifySignatures`, as `SyncService.push` runs them), worst of the repeats.
        var precheckMillisecondsMax: Double
        /// Write transactions the push took (`SyncService.writeSlice`).
        var transactions: Int
        /// The longest single write transaction of the push: the write path held.
        var writeHeldMillisecondsMax: Double
        var writeHeldMillisecondsMin: Double
        /// The whole `SyncService.push`, worst of the repeats.
        var pushMillisecondsMax: Double
    }

    func run() throws {
        let temporary = dir == nil
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-bench-admission-\(ProcessInfo.processInfo.processIdentifier)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(atPath: folder) } }
        let sqlite = try SQLiteReplicaStore(path: folder + "/hub.sqlite")
        let store = TimedStore(sqlite)
        let engine = SyncEngine()
        let county = try DivisionCode("371312"), township = try DivisionCode("371312001"), village = try DivisionCode("371312001201")
        let hub = ReplicaID(kind: .hub, name: county.rawValue), node = ReplicaID(kind: .node, name: township.rawValue)
        try store.write { try engine.open(replica: hub, jurisdiction: .county(county), in: $0) }
        // The node signs its changes, and the hub checks them, as in a deployment (SPEC §2.7).
        let credential = "bench-admission-node-credential"
        let seed = ChangeSigning.seed(fromCredential: credential)
        let keys: OriginKeys = .keys([ChangeSigning.publicKey(fromCredential: credential)])
        let enrolment = Enrolment(replica: node, jurisdiction: .township(township), revoked: false)
        let authority = CredentialAuthority(
            name: "the county hub", enrolment: { _ in enrolment }, originJurisdiction: { _ in .township(township) }, originKeys: { _ in keys })
        let service = SyncService(store: store, attachments: nil, engine: engine, replica: hub, authority: authority)
        var seq: UInt64 = 0
        func correction(_ proposed: [String: JSONValue]) -> Change {
            seq += 1
            let now = nowMilliseconds()
            var change = Change(
                id: ChangeID(origin: node, seq: seq), recordType: .correction, recordID: "bench-\(seq)", scope: village, hlc: HLC(wall: now),
                author: "clerk", fields: [
                    "parcelID": .set("371312001201-0001"), "proposed": .set(.object(proposed)),
                    "reason": .set("resurveyed"), "requestedBy": .set("clerk"), "requestedAt": .set(.number(Double(now))),
                ])
            ChangeSigning.sign(&change, seed: seed)
            return change
        }
        func polygons(_ polygon: Polygon, _ count: Int) -> () -> [Change] {
            { (0..<count).map { _ in correction(["geometry": JSONValue(encoding: polygon)]) } }
        }
        let largest = LargePolygons.largest(rings: 1)
        let cases: [(String, () -> [Change])] = [
            ("largest allowed: one ring of 10,000", polygons(largest, 1)),
            ("largest allowed: 5 rings, 10,000 in all", polygons(LargePolygons.largest(rings: 5), 1)),
            ("largest allowed: 64 rings, 10,000 in all", polygons(LargePolygons.largest(rings: 64), 1)),
            ("a full body: 8 of the largest (4 MiB)", polygons(largest, 8)),
            ("a full batch: 500 corrections of an area", { (0..<500).map { _ in correction(["areaMu": .number(12.5)]) } }),
            ("40,000-position ring (the finding; refused)", polygons(Polygon(exterior: LargePolygons.comb(positions: 40_000, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01)), 1)),
        ]
        var rows: [Row] = []
        for (name, make) in cases {
            var row = Row(name: name, changes: 0, positions: 0, bodyBytes: 0, outcome: "", precheckMillisecondsMax: 0, transactions: 0,
                          writeHeldMillisecondsMax: 0, writeHeldMillisecondsMin: .infinity, pushMillisecondsMax: 0)
            for _ in 0..<repeats {
                let push = PushRequest(sender: node, changes: make())
                row.changes = push.changes.count
                row.positions = push.changes.reduce(0) { $0 + WriteSlice.positionCount(in: $1) }
                row.bodyBytes = try JSONEncoder().encode(push).count
                // The checks the service runs before its transactions, timed alone.
                let start = DispatchTime.now()
                var prechecked = Admission.precheck(push.changes)
                prechecked.verifySignatures(push.changes) { _ in keys }
                row.precheckMillisecondsMax = max(row.precheckMillisecondsMax, Self.milliseconds(start, DispatchTime.now()))
                store.writes = []
                let pushStart = DispatchTime.now()
                let response = try service.push(push, enrolment)
                row.pushMillisecondsMax = max(row.pushMillisecondsMax, Self.milliseconds(pushStart, DispatchTime.now()))
                let outcomes = Dictionary(response.results.map { ($0.outcome == .rejected ? "rejected \($0.rejection?.code.rawValue ?? "")" : $0.outcome.rawValue, 1) }, uniquingKeysWith: +)
                row.outcome = outcomes.keys.sorted().map { outcomes.count == 1 && row.changes == 1 ? $0 : "\(outcomes[$0]!) \($0)" }.joined(separator: ", ")
                row.transactions = store.writes.count
                row.writeHeldMillisecondsMax = max(row.writeHeldMillisecondsMax, store.writes.max() ?? 0)
                row.writeHeldMillisecondsMin = min(row.writeHeldMillisecondsMin, store.writes.max() ?? 0)
            }
            rows.append(row)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        #if DEBUG
        print("build: debug")
        #else
        print("build: release")
        #endif
        print("| push | changes | positions | body bytes | outcome | validation and signatures outside the lock, ms (max) | write transactions | write path held by one, ms (min … max) | whole push, ms (max) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows {
            print("| \(row.name) | \(row.changes) | \(row.positions) | \(row.bodyBytes) | \(row.outcome) | \(String(format: "%.1f", row.precheckMillisecondsMax)) | \(row.transactions) | \(String(format: "%.1f … %.1f", row.writeHeldMillisecondsMin, row.writeHeldMillisecondsMax)) | \(String(format: "%.1f", row.pushMillisecondsMax)) |")
        }
    }

    static func milliseconds(_ a: DispatchTime, _ b: DispatchTime) -> Double { Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e6 }
}
