import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangSQLite
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
        var rings: Int
        var positions: Int
        var bodyBytes: Int
        var outcome: String
        /// Validation before the write transaction (`Admission.precheck`), worst of the repeats.
        var precheckMillisecondsMax: Double
        /// `store.write { engine.receive(…) }` with the precheck's verdicts: the write path held.
        var writeHeldMillisecondsMax: Double
        var writeHeldMillisecondsMin: Double
    }

    func run() throws {
        let temporary = dir == nil
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-bench-admission-\(ProcessInfo.processInfo.processIdentifier)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(atPath: folder) } }
        let store = try SQLiteReplicaStore(path: folder + "/hub.sqlite")
        let engine = SyncEngine()
        let county = try DivisionCode("371312"), township = try DivisionCode("371312001"), village = try DivisionCode("371312001201")
        let hub = ReplicaID(kind: .hub, name: county.rawValue), node = ReplicaID(kind: .node, name: township.rawValue)
        try store.write { try engine.open(replica: hub, jurisdiction: .county(county), in: $0) }
        let peer = Peer(replica: node, jurisdiction: .township(township))
        var seq: UInt64 = 0
        func correction(_ polygon: Polygon) -> Change {
            seq += 1
            let now = nowMilliseconds()
            return Change(
                id: ChangeID(origin: node, seq: seq), recordType: .correction, recordID: "bench-\(seq)", scope: village, hlc: HLC(wall: now),
                author: "clerk", fields: [
                    "parcelID": .set("371312001201-0001"), "proposed": .set(.object(["geometry": JSONValue(encoding: polygon)])),
                    "reason": .set("resurveyed"), "requestedBy": .set("clerk"), "requestedAt": .set(.number(Double(now))),
                ])
        }
        let cases: [(String, Polygon)] = [
            ("largest allowed: one ring of 10,000", LargePolygons.largest(rings: 1)),
            ("largest allowed: 5 rings, 10,000 in all", LargePolygons.largest(rings: 5)),
            ("largest allowed: 64 rings, 10,000 in all", LargePolygons.largest(rings: 64)),
            ("40,000-position ring (the finding; refused)", Polygon(exterior: LargePolygons.comb(positions: 40_000, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01))),
        ]
        var rows: [Row] = []
        for (name, polygon) in cases {
            var row = Row(name: name, rings: polygon.rings.count, positions: polygon.vertexCount, bodyBytes: 0, outcome: "", precheckMillisecondsMax: 0,
                          writeHeldMillisecondsMax: 0, writeHeldMillisecondsMin: .infinity)
            for _ in 0..<repeats {
                let push = PushRequest(sender: node, changes: [correction(polygon)])
                row.bodyBytes = try JSONEncoder().encode(push).count
                let start = DispatchTime.now()
                let prechecked = Admission.precheck(push.changes)
                let checked = DispatchTime.now()
                let now = nowMilliseconds()
                let response = try store.write { tx in try engine.receive(push, from: peer, prechecked: prechecked, physicalNow: now, in: tx) }
                let written = DispatchTime.now()
                let result = response.results[0]
                row.outcome = result.outcome == .rejected ? "rejected \(result.rejection?.code.rawValue ?? "")" : result.outcome.rawValue
                row.precheckMillisecondsMax = max(row.precheckMillisecondsMax, Self.milliseconds(start, checked))
                row.writeHeldMillisecondsMax = max(row.writeHeldMillisecondsMax, Self.milliseconds(checked, written))
                row.writeHeldMillisecondsMin = min(row.writeHeldMillisecondsMin, Self.milliseconds(checked, written))
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
        print("| polygon | rings | positions | body bytes | outcome | validation outside the lock, ms (max) | write path held, ms (min … max) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for row in rows {
            print("| \(row.name) | \(row.rings) | \(row.positions) | \(row.bodyBytes) | \(row.outcome) | \(String(format: "%.1f", row.precheckMillisecondsMax)) | \(String(format: "%.1f … %.1f", row.writeHeldMillisecondsMin, row.writeHeldMillisecondsMax)) |")
        }
    }

    static func milliseconds(_ a: DispatchTime, _ b: DispatchTime) -> Double { Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e6 }
}
