import Foundation
import GRDB
import Testing
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

/// Stores written by the release before decision 012 (`Tests/Fixtures/v1-stores/README.md`), opened by
/// this one: migration `v7-bounded-merge-state` rewrites every merge state, and the states say the same.
@Suite("Store migration: the version 1 merge state")
struct StoreMigrationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/v1-stores")

    /// The fixture, unpacked into a fresh folder (stores are migrated in place).
    static func unpack(_ name: String) throws -> String {
        let path = try temporaryPath(name)
        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gunzip.arguments = ["-c", "gzip -dc \"$0\" > \"$1\"", fixtures.appendingPathComponent("\(name).gz").path, path]
        try gunzip.run()
        gunzip.waitUntilExit()
        try #require(gunzip.terminationStatus == 0)
        return path
    }

    /// Every state's stored JSON, read beside the store (so the test sees the bytes on disk).
    static func storedStates(_ path: String) throws -> [String] {
        // Version 1 wrote JSON text; the bounded form is a blob, shown here as its JSON for the checks.
        try DatabaseQueue(path: path).read { db in
            try DatabaseValue.fetchAll(db, sql: "SELECT state FROM record_state").map { value -> String in
                switch value.storage {
                case .string(let text): return text
                case .blob(let data): return "binary " + String(data.count) + " " + (try StoredJSON.text(try StateCodec.decode(Array(data))))
                default: return ""
                }
            }
        }
    }

    @Test("a hub and a node written by version 1 open with the same digests, in the bounded form", arguments: [
        ("hub.sqlite", ["371312": "4008d0e765e9ab12d6446cbd7f2a9cf66836090ae949cffe01c19eb280b659b1",
                        "371312001": "9f87876a4dbb164eb87d98f33755ea05c57b5214944aef3d91fbef6925d83908",
                        "371312004": "b8cd3180bbc69cdc983c5291b1084610bf5860890e5b27097f968acdbfaafd1f"], 948, 1_463_578),
        ("node-371312001.sqlite", ["371312001": "9f87876a4dbb164eb87d98f33755ea05c57b5214944aef3d91fbef6925d83908"], 102, 160_035),
    ])
    func migrates(name: String, digests: [String: String], records: Int, bytesBefore: Int) throws {
        let path = try Self.unpack(name)
        let before = try Self.storedStates(path)
        #expect(before.count == records)
        #expect(before.allSatisfy { $0.contains("\"changes\":[") }, "the fixture holds version 1 states")
        let store = try SQLiteReplicaStore(path: path)
        let engine = SyncEngine()
        for (scope, digest) in digests {
            let code = try DivisionCode(scope)
            let jurisdiction: Jurisdiction = code.level == .county ? .county(code) : .township(code)
            #expect(try store.read { try engine.digest(of: jurisdiction, in: $0) } == digest, "\(name) \(scope)")
        }
        let after = try Self.storedStates(path)
        #expect(after.count == records)
        #expect(after.allSatisfy { !$0.contains("\"changes\":") && !$0.contains("\"superseded\":") && !$0.contains("\"writes\":") })
        #expect(after.allSatisfy { $0.hasPrefix("binary ") }, "every state is stored in the binary form")
        let bytesAfter = after.reduce(0) { $0 + Int($1.split(separator: " ")[1])! }
        #expect(bytesAfter < bytesBefore)
        print("\(name): \(records) states, \(bytesBefore) B before, \(bytesAfter) B after migration")
    }

    @Test("a migrated node keeps working: an edit builds on the migrated heads and supersedes them")
    func migratedNodeEdits() throws {
        let path = try Self.unpack("node-371312001.sqlite")
        let store = try SQLiteReplicaStore(path: path)
        let engine = SyncEngine()
        let township = Jurisdiction.township(try DivisionCode("371312001"))
        let cases = try store.read { try $0.recordStates(in: township) }.filter { $0.key.type == .enforcementCase }
        let target = try #require(cases.first { $0.registers["summary"] != nil })
        let heads = target.heads(of: ["summary"])
        let change = try store.write { tx in
            try engine.record(
                Draft(type: .enforcementCase, id: target.key.id, scope: target.scope, author: "王五", fields: ["summary": .set("迁移后编辑")]),
                physicalNow: Int64(Date().timeIntervalSince1970 * 1000), in: tx)
        }
        #expect(change.base == heads)
        let state = try #require(try store.read { try $0.recordState(target.key) })
        #expect(state.registers["summary"]?.heads.map(\.id) == [change.id])
        #expect(state.materialized["summary"] == "迁移后编辑")
    }
}
