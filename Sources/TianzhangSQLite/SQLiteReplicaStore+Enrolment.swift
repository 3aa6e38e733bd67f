import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

extension SQLiteReplicaStore {
    /// Issues a credential bound to a replica and a jurisdiction; returns the secret (shown once).
    /// At a hub store, a patrol credential also gets its `enrolment` record (hash only), in the same
    /// transaction, so the township node serving the patrol can authenticate it.
    public func enrol(_ replica: ReplicaID, jurisdiction: Jurisdiction, now: Int64) throws -> String {
        try writer.write { db in
            let (secret, publicKey) = try SyncEngine().issueCredential(replica: replica, jurisdiction: jurisdiction, now: now, in: SQLiteSyncTransaction(db))
            try db.execute(
                sql: "INSERT INTO credential (token_hash, replica, jurisdiction, issued_at, public_key) VALUES (?, ?, ?, ?, ?)",
                arguments: [Credential.hash(secret), replica.rawValue, try JSON.text(jurisdiction), now, publicKey])
            return secret
        }
    }

    /// What the county knows of an origin's signing keys, from every credential it issued to it.
    public func originKeys(of replica: ReplicaID) throws -> OriginKeys {
        OriginKeys.of(try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT public_key, jurisdiction FROM credential WHERE replica = ? ORDER BY issued_at, token_hash", arguments: [replica.rawValue])
                .map { row in (publicKey: row["public_key"] as String?, jurisdiction: try JSON.decode(Jurisdiction.self, row["jurisdiction"] as String)) }
        })
    }

    /// Revokes every credential of a replica. - Returns: how many were revoked.
    @discardableResult
    public func revoke(_ replica: ReplicaID, now: Int64) throws -> Int {
        try writer.write { db in
            let hashes = try String.fetchAll(db, sql: "SELECT token_hash FROM credential WHERE replica = ? AND revoked_at IS NULL", arguments: [replica.rawValue])
            try db.execute(sql: "UPDATE credential SET revoked_at = ? WHERE replica = ? AND revoked_at IS NULL", arguments: [now, replica.rawValue])
            let count = db.changesCount
            try Self.recordPatrolRevocation(hashes: hashes, now: now, in: db)
            return count
        }
    }

    /// The enrolment a secret belongs to, if any.
    public func enrolment(forSecret secret: String) throws -> Enrolment? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT replica, jurisdiction, revoked_at FROM credential WHERE token_hash = ?", arguments: [Credential.hash(secret)])
        }.map { row in
            Enrolment(replica: try ReplicaID(row["replica"]), jurisdiction: try JSON.decode(Jurisdiction.self, row["jurisdiction"]), revoked: (row["revoked_at"] as Int64?) != nil)
        }
    }

    /// The jurisdiction the latest live credential of a replica grants (the county's view of an origin).
    public func jurisdiction(of replica: ReplicaID) throws -> Jurisdiction? {
        try writer.read { db in
            try String.fetchOne(db, sql: "SELECT jurisdiction FROM credential WHERE replica = ? AND revoked_at IS NULL ORDER BY issued_at DESC LIMIT 1", arguments: [replica.rawValue])
        }.map { try JSON.decode(Jurisdiction.self, $0) }
    }

    public func setting(_ key: String) throws -> String? {
        try writer.read { db in try String.fetchOne(db, sql: "SELECT value FROM setting WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try writer.write { db in
            try db.execute(sql: "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
        }
    }
}

extension SQLiteReplicaStore {
    /// Every credential this hub issued, live or revoked, oldest first.
    public func issuedCredentials() throws -> [IssuedCredential] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT token_hash, replica, jurisdiction, issued_at, revoked_at, public_key FROM credential ORDER BY issued_at, token_hash").map { row in
                IssuedCredential(tokenHash: row["token_hash"], replica: try ReplicaID(row["replica"]), jurisdiction: try JSON.decode(Jurisdiction.self, row["jurisdiction"]),
                                 issuedAt: row["issued_at"], revokedAt: row["revoked_at"], publicKey: row["public_key"])
            }
        }
    }
}
