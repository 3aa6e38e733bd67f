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
        /// Validation and signature verification before the write transaction (`Admission.precheck`,
        /// `verifySignatures`, as `SyncService.push` runs them), worst of the repeats.
        var precheckMillisecondsMax: Double
        /// `store.write { engine.receive(…) }` with the precheck's verdicts: the write path held.
        var writeHeldMillisecondsMax: Double
        var writeHeldMillisecondsMin: Double
        /// The same, with the signature verified inside the transaction (as before this version).
        var writeHeldVerifyingInsideMillisecondsMax: Double
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
        // The node signs its changes, and the hub checks them, as in a deployment (SPEC §2.7).
        let credential = "bench-admission-node-credential"
        let seed = ChangeSigning.seed(fromCredential: credential)
        let keys: OriginKeys = .keys([ChangeSigning.publicKey(fromCredential: credential)])
        var seq: UInt64 = 0
        func correction(_ polygon: Polygon) -> Change {
            seq += 1
            let now = nowMilliseconds()
            var change = Change(
                id: ChangeID(origin: node, seq: seq), recordType: .correction, recordID: "bench-\(seq)", scope: village, hlc: HLC(wall: now),
                author: "clerk", fields: [
                    "parcelID": .set("371312001201-0001"), "proposed": .set(.object(["geometry": JSONValue(encoding: polygon)])),
                    "reason": .set("resurveyed"), "requestedBy": .set("clerk"), "requestedAt": .set(.number(Double(now))),
                ])
            ChangeSigning.sign(&change, seed: seed)
            return change
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
                          writeHeldMillisecondsMax: 0, writeHeldMillisecondsMin: .infinity, writeHeldVerifyingInsideMillisecondsMax: 0)
            for _ in 0..<repeats {
                // Verified inside the transaction (geometry prechecked): the write path before this version.
                let before = PushRequest(sender: node, changes: [correction(polygon)])
                let geometryOnly = Admission.precheck(before.changes)
                let insideStart = DispatchTime.now()
                _ = try store.write { tx in
                    try engine.receive(before, from: peer, originJurisdiction: { _ in .township(township) }, originKeys: { _ in keys }, prechecked: geometryOnly, physicalNow: nowMilliseconds(), in: tx)
                }
                row.writeHeldVerifyingInsideMillisecondsMax = max(row.writeHeldVerifyingInsideMillisecondsMax, Self.milliseconds(insideStart, DispatchTime.now()))

                let push = PushRequest(sender: node, changes: [correction(polygon)])
                row.bodyBytes = try JSONEncoder().encode(push).count
                let start = DispatchTime.now()
                var prechecked = Admission.precheck(push.changes)
                prechecked.verifySignatures(push.changes) { _ in keys }
                let checked = DispatchTime.now()
                let now = nowMilliseconds()
                let response = try store.write { tx in
                    try engine.receive(push, from: peer, originJurisdiction: { _ in .township(township) }, originKeys: { _ in keys }, prechecked: prechecked, physicalNow: now, in: tx)
                }
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
        print("| polygon | rings | positions | body bytes | outcome | validation and signature outside the lock, ms (max) | write path held, ms (min … max) | held with the signature verified inside, ms (max) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows {
            print("| \(row.name) | \(row.rings) | \(row.positions) | \(row.bodyBytes) | \(row.outcome) | \(String(format: "%.1f", row.precheckMillisecondsMax)) | \(String(format: "%.1f … %.1f", row.writeHeldMillisecondsMin, row.writeHeldMillisecondsMax)) | \(String(format: "%.1f", row.writeHeldVerifyingInsideMillisecondsMax)) |")
        }
    }

    static func milliseconds(_ a: DispatchTime, _ b: DispatchTime) -> Double { Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e6 }
}
