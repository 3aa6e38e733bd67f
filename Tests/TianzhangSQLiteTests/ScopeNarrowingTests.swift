import Foundation
import Testing
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

/// What a replica removes when its jurisdiction shrinks or its credential is revoked (SPEC §9.2, §9.3).
@Suite("Scope narrowing in the SQLite store")
struct ScopeNarrowingTests {
    let engine = SyncEngine()
    let node = try! ReplicaID("node:371312001")
    let hub = try! ReplicaID("hub:371312")
    let township = try! DivisionCode("371312001")
    let kept = try! DivisionCode("371312001201"), moved = try! DivisionCode("371312001203")
    let now: Int64 = 1_763_884_800_000

    func person(_ id: String, in village: DivisionCode, _ tx: any SyncTransaction) throws -> Change {
        try engine.record(Draft(type: .fieldChief, id: id, scope: village, author: "clerk", fields: ["name": .set(.string(id)), "division": .set(.string(village.rawValue))]), physicalNow: now, in: tx)
    }

    func fromHub(_ seq: UInt64, _ id: String, in village: DivisionCode) -> Change {
        Change(id: ChangeID(origin: hub, seq: seq), recordType: .fieldChief, recordID: id, scope: village, hlc: HLC(wall: now - 1000), author: "dispatcher",
               fields: ["name": .set(.string(id)), "division": .set(.string(village.rawValue))])
    }

    func keys(_ store: SQLiteReplicaStore) throws -> [String] {
        try store.read { try $0.recordStates(in: .county(try DivisionCode("371312"))) }.map(\.key.id)
    }

    @Test("a moved-out village: received records and delivered own changes go, the outbox stays, the checkpoint restarts; revoked: only the outbox stays")
    func narrowing() throws {
        let store = try SQLiteReplicaStore.inMemory()
        let (pendingOutside, deliveredOutside) = try store.write { tx -> (Change, Change) in
            try engine.open(replica: node, jurisdiction: .township(township), in: tx)
            _ = try engine.apply(PullResponse(server: hub, changes: [fromHub(1, "h-kept", in: kept), fromHub(2, "h-moved", in: moved)], next: 2, more: false),
                                 from: "hub", physicalNow: now, in: tx)
            let delivered = try person("n-delivered", in: moved, tx)
            _ = try engine.handle(PushResponse(receiver: hub, results: [ChangeResult(id: delivered.id, outcome: .accepted, seq: 3)]), in: tx)
            _ = try person("n-kept", in: kept, tx)
            return (try person("n-pending", in: moved, tx), delivered)
        }
        #expect(try keys(store) == ["h-kept", "h-moved", "n-delivered", "n-kept", "n-pending"])

        let narrowed = try store.narrow(to: .township(township, adding: [], removing: [moved]), engine: engine)
        #expect(narrowed.kept == 1)
        #expect(narrowed.changes == 2, "the hub's change and this node's change the county holds")
        #expect(try keys(store) == ["h-kept", "n-kept", "n-pending"], "the pending change outside is kept, and its record rebuilt from it")
        #expect(try store.read { try $0.logEntry(deliveredOutside.id) } == nil)
        #expect(try store.read { try $0.logEntry(pendingOutside.id) }?.delivery == .pending)
        #expect(try store.read { try $0.checkpoint(peer: "hub") } == 0, "the next pull starts from the beginning")
        #expect(try store.read { try $0.meta() }?.jurisdiction == .adjustedTownship(township, added: [], removed: [moved]))

        let revoked = try store.narrow(to: nil, engine: engine)
        #expect(revoked.kept == 2)
        #expect(try keys(store) == ["n-kept", "n-pending"])
        #expect(try store.undelivered().map(\.change.recordID) == ["n-kept", "n-pending"])
    }
}
