import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// Patrol credentials a township node can check without the hub: for every patrol credential the hub
/// writes an `enrolment` record (hub-only, `Protocol/SPEC.md` §2.2) with id = the SHA-256 of the
/// secret, scoped to the patrol's home village, so it syncs down to the node that serves the patrol.
/// The secret itself never leaves the enrolment command.
extension SQLiteReplicaStore {
    /// Writes (at a hub store) the `enrolment` record of a newly issued patrol credential, in the
    /// transaction that stored the credential. Does nothing for other replicas or below the hub.
    static func recordPatrolEnrolment(hash: String, replica: ReplicaID, jurisdiction: Jurisdiction, now: Int64, in db: Database) throws {
        let tx = SQLiteSyncTransaction(db)
        guard replica.kind == .patrol, let meta = try tx.meta(), meta.replica.kind == .hub else { return }
        try SyncEngine().record(Draft(type: .enrolment, id: hash, scope: jurisdiction.home, author: meta.replica.rawValue, fields: [
            "replica": .set(.string(replica.rawValue)), "jurisdiction": .set(JSONValue(encoding: jurisdiction)),
            "revoked": .set(.bool(false)), "issuedAt": .set(.number(Double(now))),
        ]), physicalNow: now, in: tx)
    }

    /// Marks (at a hub store) the `enrolment` records of the given credential hashes revoked, in the
    /// transaction that revoked them; they reach the serving node on its next sync.
    static func recordPatrolRevocation(hashes: [String], now: Int64, in db: Database) throws {
        let tx = SQLiteSyncTransaction(db)
        guard let meta = try tx.meta(), meta.replica.kind == .hub else { return }
        for hash in hashes {
            guard let state = try tx.recordState(RecordKey(.enrolment, hash)) else { continue }
            try SyncEngine().record(Draft(type: .enrolment, id: hash, scope: state.scope, author: meta.replica.rawValue, fields: ["revoked": .set(.bool(true))]),
                                    physicalNow: now, in: tx)
        }
    }

    /// The patrol credential a secret belongs to, as this store knows it from synced `enrolment`
    /// records (how a township node authenticates its patrols, hub or no hub).
    public func patrolEnrolment(forSecret secret: String) throws -> Enrolment? {
        try read { tx in try tx.recordState(RecordKey(.enrolment, Credential.hash(secret))) }.flatMap(Self.enrolment(of:))
    }

    /// The jurisdiction of a patrol's latest live credential, from synced `enrolment` records.
    public func patrolJurisdiction(of replica: ReplicaID) throws -> Jurisdiction? {
        let states = try writer.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM record_state WHERE record_type = ?", arguments: [RecordType.enrolment.rawValue])
        }.map { try JSON.decode(RecordState.self, $0) }
        return states
            .compactMap { state in Self.enrolment(of: state).map { (enrolment: $0, issued: state.materialized["issuedAt"]?.numberValue ?? 0) } }
            .filter { $0.enrolment.replica == replica && !$0.enrolment.revoked }
            .max { $0.issued < $1.issued }?.enrolment.jurisdiction
    }

    static func enrolment(of state: RecordState) -> Enrolment? {
        let fields = state.materialized
        guard let replica = fields["replica"]?.stringValue.flatMap({ try? ReplicaID($0) }),
              let jurisdiction = try? fields["jurisdiction"]?.decode(as: Jurisdiction.self) else { return nil }
        return Enrolment(replica: replica, jurisdiction: jurisdiction, revoked: fields["revoked"] == .bool(true))
    }
}
