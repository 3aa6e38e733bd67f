import Foundation
import TianzhangDomain
import TianzhangSync

/// The credentials a hub on PostgreSQL issued: the SQLite hub's `credential` table
/// (`SQLiteReplicaStore+Enrolment.swift`), shared by every hub process on the database, so a node
/// enrolled through one hub process syncs with any of them.
extension PostgresSyncStore {
    /// Issues a credential bound to a replica and a jurisdiction; returns the secret (shown once; only
    /// its SHA-256 is stored). A patrol credential also gets its `enrolment` record, in the same transaction.
    public func enrol(_ replica: ReplicaID, jurisdiction: Jurisdiction, now: Int64) throws -> String {
        try transaction(begin: "BEGIN", ordered: orderedCommits) { tx in
            let (secret, publicKey) = try SyncEngine().issueCredential(replica: replica, jurisdiction: jurisdiction, now: now, in: tx)
            try tx.rows("INSERT INTO \(schema).credential (token_hash, replica, jurisdiction, issued_at, public_key) VALUES ($1, $2, $3, $4, $5)", [
                .text(Credential.hash(secret)), .text(replica.rawValue), .text(try StoredJSON.text(jurisdiction)), .int(now), .text(publicKey),
            ])
            return secret
        }
    }

    /// What the county knows of an origin's signing keys, from every credential it issued to it.
    public func originKeys(of replica: ReplicaID) throws -> OriginKeys {
        OriginKeys.of(try transaction(begin: "BEGIN READ ONLY", ordered: false) { tx in
            try tx.rows("SELECT public_key, jurisdiction FROM \(schema).credential WHERE replica = $1 ORDER BY issued_at, token_hash", [.text(replica.rawValue)])
                .map { row in
                    let (publicKey, jurisdiction) = try row.decode((String?, String).self)
                    return (publicKey: publicKey, jurisdiction: try StoredJSON.decode(Jurisdiction.self, jurisdiction))
                }
        })
    }

    /// Revokes every credential of a replica. - Returns: how many were revoked.
    @discardableResult
    public func revoke(_ replica: ReplicaID, now: Int64) throws -> Int {
        try transaction(begin: "BEGIN", ordered: orderedCommits) { tx in
            let hashes = try tx.texts("""
                UPDATE \(schema).credential SET revoked_at = $1 WHERE replica = $2 AND revoked_at IS NULL RETURNING token_hash
                """, [.int(now), .text(replica.rawValue)])
            try SyncEngine().recordPatrolRevocation(hashes: hashes, now: now, in: tx)
            return hashes.count
        }
    }

    /// The enrolment a secret belongs to, if any.
    public func enrolment(forSecret secret: String) throws -> Enrolment? {
        try transaction(begin: "BEGIN READ ONLY", ordered: false) { tx in
            try tx.rows("SELECT replica, jurisdiction, revoked_at FROM \(schema).credential WHERE token_hash = $1", [.text(Credential.hash(secret))])
                .first.map { row in
                    let (replica, jurisdiction, revokedAt) = try row.decode((String, String, Int64?).self)
                    return Enrolment(replica: try ReplicaID(replica), jurisdiction: try StoredJSON.decode(Jurisdiction.self, jurisdiction), revoked: revokedAt != nil)
                }
        }
    }

    /// The jurisdiction the latest live credential of a replica grants (the county's view of an origin).
    public func jurisdiction(of replica: ReplicaID) throws -> Jurisdiction? {
        try transaction(begin: "BEGIN READ ONLY", ordered: false) { tx in
            try tx.texts("""
                SELECT jurisdiction FROM \(schema).credential WHERE replica = $1 AND revoked_at IS NULL ORDER BY issued_at DESC LIMIT 1
                """, [.text(replica.rawValue)]).first.map { try StoredJSON.decode(Jurisdiction.self, $0) }
        }
    }
}
