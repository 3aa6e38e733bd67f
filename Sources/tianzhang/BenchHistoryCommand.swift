import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// `tianzhang bench-history`: one case's summary edited many times by a township node, each edit pushed
/// alone to a hub on SQLite (`SyncService.push`): does the merge state, and the cost of taking one more
/// edit, grow with the record's history (issue 11)? Prints figures, asserts nothing.
struct BenchHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-history",
        abstract: "Measure the merge state's size and the hub's ingest time of one field edited many times.")

    @Option(help: "Edits of the one field.") var edits = 10_000
    @Option(help: "Folder for the store (default: a new temporary folder, removed afterwards).") var dir: String?

    func run() throws {
        let temporary = dir == nil
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-bench-history-\(ProcessInfo.processInfo.processIdentifier)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(atPath: folder) } }
        let hubStore = try SQLiteReplicaStore(path: folder + "/hub.sqlite")
        let nodeStore = try SQLiteReplicaStore(path: folder + "/node.sqlite")
        let engine = SyncEngine()
        let county = try DivisionCode("371312"), township = try DivisionCode("371312001"), village = try DivisionCode("371312001201")
        let hub = ReplicaID(kind: .hub, name: county.rawValue), node = ReplicaID(kind: .node, name: township.rawValue)
        try hubStore.write { try engine.open(replica: hub, jurisdiction: .county(county), in: $0) }
        try nodeStore.write { try engine.open(replica: node, jurisdiction: .township(township), in: $0) }
        let enrolment = Enrolment(replica: node, jurisdiction: .township(township), revoked: false)
        let authority = CredentialAuthority(
            name: "the county hub", enrolment: { _ in enrolment }, originJurisdiction: { _ in .township(township) }, originKeys: { _ in .notChecked })
        let service = SyncService(store: hubStore, attachments: nil, engine: engine, replica: hub, authority: authority)
        let key = RecordKey(.enforcementCase, "01JDBENCHHISTORY0000000001")
        let now = nowMilliseconds()
        var pushSeconds: [Double] = []
        var stateBytes: [Int: Int] = [:]
        for index in 0...edits {
            let fields: [String: FieldOperation] = index == 0 ? [
                "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
                "township": .set(.string(township.rawValue)), "village": .set(.string(village.rawValue)),
                "discoveredAt": .set(.number(Double(now))), "summary": .set("取土"), "affectedAreaMu": .set(1),
                "status": .set(WorkflowValue(status: .reported, round: 1).json),
            ] : ["summary": .set(.string("第 \(index) 次修改：取土坑已回填一部分"))]
            try nodeStore.write { tx in
                _ = try engine.record(Draft(type: .enforcementCase, id: key.id, scope: village, author: "王五", fields: fields), physicalNow: now + Int64(index), in: tx)
            }
            guard let push = try nodeStore.read({ try engine.nextPush(in: $0) }) else { throw ValidationError("edit \(index) left nothing to push") }
            let start = DispatchTime.now()
            let response = try service.push(push, enrolment)
            pushSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
            try nodeStore.write { _ = try engine.handle(response, in: $0) }
            if [1, 2, 10, 100, 1_000, 10_000, edits].contains(index) {
                stateBytes[index] = try hubStore.read { try $0.recordState(key) }.map { StateCodec.encode($0).count } ?? 0
            }
        }
        func mean(_ range: Range<Int>) -> Double { pushSeconds[range].reduce(0, +) / Double(range.count) * 1e6 }
        let window = min(100, edits / 2)
        let early = mean(1..<1 + window), late = mean(edits + 1 - window..<edits + 1)
        print("one case's summary edited \(edits) times by node \(node.rawValue), each edit one push to hub \(hub.rawValue) on SQLite")
        print("| measure | value |")
        print("| --- | --- |")
        for (edit, bytes) in stateBytes.sorted(by: { $0.key < $1.key }) { print("| merge state at the hub after edit \(edit) (stored, binary) | \(bytes) B |") }
        print(String(format: "| push of one edit, edits 1–%d (mean) | %.0f µs |", window, early))
        print(String(format: "| push of one edit, edits %d–%d (mean) | %.0f µs |", edits + 1 - window, edits, late))
        print(String(format: "| last ÷ first | %.2f× |", late / early))
        if let one = stateBytes[1], let last = stateBytes[edits] { print(String(format: "| state after edit %d ÷ after edit 1 | %.2f× |", edits, Double(last) / Double(one))) }
    }
}
