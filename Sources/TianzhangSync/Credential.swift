import Crypto
import Foundation
import TianzhangDomain

/// Enrolment credentials: a random secret handed once to a node or a device; the hub keeps only its
/// SHA-256, so a copy of the hub's store does not reveal any credential.
public enum Credential {
    /// A new secret: `tz_` and 32 random bytes in hex.
    public static func generate(using rng: inout some RandomNumberGenerator) -> String {
        "tz_" + Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// The hex SHA-256 of a secret, as stored.
    public static func hash(_ secret: String) -> String {
        Hex.encode(SHA256.hash(data: Data(secret.utf8)))
    }
}

/// A credential the hub issued, as it knows it.
public struct Enrolment: Hashable, Sendable {
    public var replica: ReplicaID
    public var jurisdiction: Jurisdiction
    public var revoked: Bool

    public init(replica: ReplicaID, jurisdiction: Jurisdiction, revoked: Bool) {
        self.replica = replica
        self.jurisdiction = jurisdiction
        self.revoked = revoked
    }
}

/// A credential row as the hub keeps it (only the secret's hash), for moving a hub to another store.
public struct IssuedCredential: Hashable, Sendable {
    public var tokenHash: String
    public var replica: ReplicaID
    public var jurisdiction: Jurisdiction
    public var issuedAt: Int64
    public var revokedAt: Int64?
    /// The public key its holder signs changes with (hex); `nil` for credentials issued before signatures.
    public var publicKey: String?

    public init(tokenHash: String, replica: ReplicaID, jurisdiction: Jurisdiction, issuedAt: Int64, revokedAt: Int64?, publicKey: String? = nil) {
        self.tokenHash = tokenHash
        self.replica = replica
        self.jurisdiction = jurisdiction
        self.issuedAt = issuedAt
        self.revokedAt = revokedAt
        self.publicKey = publicKey
    }
}

extension OriginKeys {
    /// The county's view of an origin from the credentials it issued (live and revoked).
    public static func of(_ credentials: [(publicKey: String?, jurisdiction: Jurisdiction)]) -> OriginKeys {
        guard let latest = credentials.last else { return .unknown }
        let keys = credentials.compactMap(\.publicKey)
        return keys.isEmpty ? .unsigned(jurisdiction: latest.jurisdiction) : .keys(keys)
    }
}

/// Patrol credentials a township node can check without the hub: for every patrol credential the hub
/// writes an `enrolment` record (hub-only, `Protocol/SPEC.md` §2.2) with id = the SHA-256 of the
/// secret, scoped to the patrol's home village, so it syncs down to the node that serves the patrol.
/// The secret itself never leaves the enrolment command. Every hub store (SQLite, PostgreSQL) calls
/// these in the transaction that stores or revokes the credential.
extension SyncEngine {
    /// Writes (at a hub) the `enrolment` record of a newly issued patrol credential. Does nothing for
    /// other replicas or below the hub.
    public func recordPatrolEnrolment(hash: String, replica: ReplicaID, jurisdiction: Jurisdiction, publicKey: String? = nil, now: Int64, in tx: any SyncTransaction) throws {
        guard replica.kind == .patrol, let meta = try tx.meta(), meta.replica.kind == .hub else { return }
        var fields: [String: FieldOperation] = [
            "replica": .set(.string(replica.rawValue)), "jurisdiction": .set(JSONValue(encoding: jurisdiction)),
            "revoked": .set(.bool(false)), "issuedAt": .set(.number(Double(now))),
        ]
        if let publicKey { fields["publicKey"] = .set(.string(publicKey)) }
        try record(Draft(type: .enrolment, id: hash, scope: jurisdiction.home, author: meta.replica.rawValue, fields: fields), physicalNow: now, in: tx)
    }

    /// Issues a credential at a hub: a new secret carrying the hub's public key, the public key its
    /// holder will sign with, and (for a patrol) its `enrolment` record. The caller stores the row.
    public func issueCredential(replica: ReplicaID, jurisdiction: Jurisdiction, now: Int64, in tx: any SyncTransaction) throws -> (secret: String, publicKey: String) {
        var rng = SystemRandomNumberGenerator()
        let hubKey = try tx.meta()?.signingSeed.flatMap(ChangeSigning.publicKey(seed:))
        let secret = Credential.issue(secret: Credential.generate(using: &rng), hubPublicKey: hubKey)
        let publicKey = ChangeSigning.publicKey(fromCredential: secret)
        try recordPatrolEnrolment(hash: Credential.hash(secret), replica: replica, jurisdiction: jurisdiction, publicKey: publicKey, now: now, in: tx)
        return (secret, publicKey)
    }

    /// Marks (at a hub) the `enrolment` records of the given credential hashes revoked; they reach the
    /// serving node on its next sync.
    public func recordPatrolRevocation(hashes: [String], now: Int64, in tx: any SyncTransaction) throws {
        guard let meta = try tx.meta(), meta.replica.kind == .hub else { return }
        for hash in hashes {
            guard let state = try tx.recordState(RecordKey(.enrolment, hash)) else { continue }
            try record(Draft(type: .enrolment, id: hash, scope: state.scope, author: meta.replica.rawValue, fields: ["revoked": .set(.bool(true))]),
                       physicalNow: now, in: tx)
        }
    }
}
