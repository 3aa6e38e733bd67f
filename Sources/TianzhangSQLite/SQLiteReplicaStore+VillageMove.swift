import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// What moving a village to another township changed at the hub.
public struct VillageMove: Hashable, Sendable, Codable {
    public var village: DivisionCode
    public var from: DivisionCode
    public var to: DivisionCode
    /// The replicas whose live credentials were re-bound (the old township's node, the new one's).
    public var rebound: [String] = []
    /// Whether the village's `division` record was updated (it has one when the county was seeded).
    public var divisionUpdated = false
}

extension SQLiteReplicaStore {
    /// Moves a village to another township, at the hub, in one transaction: every live township
    /// credential is re-bound (`Jurisdiction.moving(village:to:)`: the old township's no longer covers
    /// the village, the new one's does), and the village's `division` record gets `township` := the new
    /// township (a hub change that syncs down). The village keeps its code, and records keep their
    /// scopes. Each node learns its new jurisdiction from `hello` on its next sync and removes or pulls
    /// what changed. Patrol credentials (sets of villages) are unchanged.
    /// - Throws: `ProtocolError` — `not_initialized` (not a hub store), `outside_jurisdiction` (the
    ///   village or the township lies in another county), `invalid_value` (the village already belongs
    ///   to that township).
    public func moveVillage(_ village: DivisionCode, to township: DivisionCode, engine: SyncEngine, now: Int64) throws -> VillageMove {
        try writer.write { db in
            let tx = SQLiteSyncTransaction(db)
            guard let meta = try tx.meta(), meta.replica.kind == .hub, case .county(let county) = meta.jurisdiction else {
                throw ProtocolError(code: "not_initialized", message: "This is not a county hub's store; moves are made at the hub.")
            }
            for code in [village, township] where !county.contains(code) {
                throw ProtocolError(code: "outside_jurisdiction", message: "\(code) does not lie in county \(county).", field: code == village ? "village" : "to")
            }
            let division = try tx.recordState(RecordKey(.division, village.rawValue))
            let current = division?.materialized["township"]?.stringValue.flatMap { try? DivisionCode($0, level: .township) } ?? village.township!
            guard current != township else {
                throw ProtocolError(code: "invalid_value", message: "Village \(village) already belongs to township \(township).", field: "to")
            }
            var move = VillageMove(village: village, from: current, to: township)
            for row in try Row.fetchAll(db, sql: "SELECT token_hash, replica, jurisdiction FROM credential WHERE revoked_at IS NULL ORDER BY replica, issued_at") {
                let jurisdiction = try JSON.decode(Jurisdiction.self, row["jurisdiction"] as String)
                let moved = jurisdiction.moving(village: village, to: township)
                guard moved != jurisdiction else { continue }
                try db.execute(sql: "UPDATE credential SET jurisdiction = ? WHERE token_hash = ?", arguments: [try JSON.text(moved), row["token_hash"] as String])
                move.rebound.append(row["replica"])
            }
            if let division {
                try engine.record(Draft(type: .division, id: village.rawValue, scope: division.scope, author: meta.replica.rawValue,
                                        fields: ["township": .set(.string(township.rawValue))]), physicalNow: now, in: tx)
                move.divisionUpdated = true
            }
            return move
        }
    }
}
