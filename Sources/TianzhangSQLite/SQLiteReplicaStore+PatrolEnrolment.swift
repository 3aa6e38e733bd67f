import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// Patrol credentials at a SQLite store: the hub writes `enrolment` records (`SyncEngine.recordPatrolEnrolment`);
/// a township node authenticates its patrols from the synced ones.
extension SQLiteReplicaStore {
    static func recordPatrolEnrolment(hash: String, replica: ReplicaID, jurisdiction: Jurisdiction, now: Int64, in db: Database) throws {
        try SyncEngine().recordPatrolEnrolment(hash: hash, replica: replica, jurisdiction: jurisdiction, now: now, in: SQLiteSyncTransaction(db))
    }

    static func recordPatrolRevocation(hashes: [String], now: Int64, in db: Database) throws {
        try SyncEngine().recordPatrolRevocation(hashes: hashes, now: now, in: SQLiteSyncTransaction(db))
    }

    /// The patrol credential a secret belongs to, as this store knows it from synced `enrolment`
    /// records (how a township node authenticates its patrols, hub or no hub).
    public func patrolEnrolment(forSecret secret: String) throws -> Enrolment? {
        try read { tx in try tx.recordState(RecordKey(.enrolment, Credential.hash(secret))) }.flatMap(Self.enrolment(of:))
    }

    /// The jurisdiction of a patrol's latest live credential, from synced `enrolment` records.
    public func patrolJurisdiction(of replica: ReplicaID) throws -> Jurisdiction? {
        let states = try writer.read { db in
            try DatabaseValue.fetchAll(db, sql: "SELECT state FROM record_state WHERE record_type = ?", arguments: [RecordType.enrolment.rawValue])
        }.map(StoredState.decode)
        return states
            .compactMap { state in Self.enrolment(of: state).map { (enrolment: $0, issued: state.materialized["issuedAt"]?.numberValue ?? 0) } }
            .filter { $0.enrolment.replica == replica && !$0.enrolment.revoked }
            .max { $0.issued < $1.issued }?.enrolment.jurisdiction
    }

    /// What this node knows of a patrol's signing keys, from the synced `enrolment` records.
    public func patrolKeys(of replica: ReplicaID) throws -> OriginKeys {
        let states = try writer.read { db in
            try DatabaseValue.fetchAll(db, sql: "SELECT state FROM record_state WHERE record_type = ?", arguments: [RecordType.enrolment.rawValue])
        }.map(StoredState.decode)
        return OriginKeys.of(states
            .compactMap { state in Self.enrolment(of: state).map { (enrolment: $0, state: state) } }
            .filter { $0.enrolment.replica == replica }
            .sorted { ($0.state.materialized["issuedAt"]?.numberValue ?? 0) < ($1.state.materialized["issuedAt"]?.numberValue ?? 0) }
            .map { (publicKey: $0.state.materialized["publicKey"]?.stringValue, jurisdiction: $0.enrolment.jurisdiction) })
    }

    static func enrolment(of state: RecordState) -> Enrolment? {
        let fields = state.materialized
        guard let replica = fields["replica"]?.stringValue.flatMap({ try? ReplicaID($0) }),
              let jurisdiction = try? fields["jurisdiction"]?.decode(as: Jurisdiction.self) else { return nil }
        return Enrolment(replica: replica, jurisdiction: jurisdiction, revoked: fields["revoked"] == .bool(true))
    }
}
