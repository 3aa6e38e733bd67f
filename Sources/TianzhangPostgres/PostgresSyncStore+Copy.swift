import Foundation
import TianzhangDomain
import TianzhangSync

/// Moving a county hub from its embedded SQLite file to PostgreSQL (the day one machine is not enough).
extension PostgresSyncStore {
    /// What a copy brought over.
    public struct CopyReport: Sendable, Equatable {
        public var changes = 0
        public var records = 0
        public var credentials = 0
    }

    /// Copies a hub's whole sync state into this (empty) database: the replica meta (its clock and own
    /// sequence go on from where they were), every log entry with its sequence number unchanged (so the
    /// checkpoints the township nodes hold stay valid), every merged record, and the credentials the hub
    /// issued. One transaction: a failed copy leaves the database empty.
    /// - Throws: `Failure` (`not_empty` when this schema already holds a replica, `not_a_hub` when the
    ///   source is not a county hub's store).
    public func copy(from source: any SyncStore, credentials: [IssuedCredential]) throws -> CopyReport {
        guard let meta = try source.read({ try $0.meta() }), case .county(let county) = meta.jurisdiction, meta.replica.kind == .hub else {
            throw Failure(code: "not_a_hub", description: "The source store is not a county hub's (no hub replica with a county jurisdiction).")
        }
        return try transaction(begin: "BEGIN", ordered: orderedCommits) { tx in
            guard try tx.meta() == nil else {
                throw Failure(code: "not_empty", description: "Schema \(schema) already holds a replica; copy into an empty schema.")
            }
            var report = CopyReport()
            try tx.saveMeta(meta)
            var cursor: UInt64 = 0
            while true {
                let page = try source.read { try $0.logPage(after: cursor, in: .county(county), excluding: nil, limit: 2_000) }
                for entry in page.entries { tx.appendCopied(entry) }
                report.changes += page.entries.count
                try tx.flush()
                cursor = page.scannedThrough
                if !page.more { break }
            }
            try tx.rows("SELECT setval('\(schema).change_log_seq', GREATEST(COALESCE((SELECT MAX(seq) FROM \(schema).change_log), 0), 1))")
            try source.read { source in
                try source.forEachRecordState(in: .county(county)) { state in
                    try tx.saveRecordState(state)
                    report.records += 1
                    if report.records % 2_000 == 0 { try tx.flush() }
                }
            }
            for credential in credentials {
                try tx.rows("INSERT INTO \(schema).credential (token_hash, replica, jurisdiction, issued_at, revoked_at, public_key) VALUES ($1, $2, $3, $4, $5, $6)", [
                    .text(credential.tokenHash), .text(credential.replica.rawValue), .text(try StoredJSON.text(credential.jurisdiction)),
                    .int(credential.issuedAt), credential.revokedAt.map { .int($0) } ?? .text(nil), .text(credential.publicKey),
                ])
                report.credentials += 1
            }
            return report
        }
    }
}
