import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

extension SQLiteReplicaStore {
    /// Removes what this replica may no longer hold: every record whose scope lies outside `jurisdiction`
    /// (all of them when `jurisdiction` is `nil`: the credential was revoked), with the log entries of
    /// those records, except the outbox — changes not yet at the county that this replica wrote, or
    /// relays and has not yet sent. Nothing of anyone's work is silently lost: kept changes stay in the
    /// log (listed by `node outbox`) and their records are rebuilt from them alone.
    ///
    /// With a new `jurisdiction` the replica's meta takes it and its pull checkpoints are reset, so the
    /// next pull fetches what the jurisdiction gained (changes already held are skipped). All in one
    /// transaction.
    /// - Throws: `ProtocolError` (`not_initialized`) when the store has no replica.
    @discardableResult
    public func narrow(to jurisdiction: Jurisdiction?, engine: SyncEngine) throws -> ScopeNarrowing {
        try writer.write { db in
            let tx = SQLiteSyncTransaction(db)
            guard var meta = try tx.meta() else {
                throw ProtocolError(code: "not_initialized", message: "This store has no replica yet; run init first.")
            }
            var outside = "1"
            var arguments: StatementArguments = []
            if let jurisdiction {
                let (clause, scopeArguments) = SQLiteSyncTransaction.scopeFilter(jurisdiction, column: "scope")
                outside = "NOT \(clause)"
                arguments = scopeArguments
            }
            let keep = "(delivery = 'pending' OR (origin = ? AND delivery IN ('forwarded', 'rejected')))"
            let keepArguments: StatementArguments = [meta.replica.rawValue]
            var result = ScopeNarrowing()
            result.kept = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log WHERE \(outside) AND \(keep)", arguments: arguments + keepArguments) ?? 0
            var keys = Set<RecordKey>()
            for row in try Row.fetchAll(db, sql: """
                SELECT record_type, record_id FROM change_log WHERE \(outside) AND NOT \(keep)
                UNION SELECT record_type, record_id FROM record_state WHERE \(outside)
                """, arguments: arguments + keepArguments + arguments) {
                if let type = RecordType(rawValue: row["record_type"]) { keys.insert(RecordKey(type, row["record_id"])) }
            }
            try db.execute(sql: "DELETE FROM change_log WHERE \(outside) AND NOT \(keep)", arguments: arguments + keepArguments)
            result.changes = db.changesCount
            for key in keys.sorted() { try engine.rebuild(key, in: tx) }
            result.records = keys.count
            if let jurisdiction {
                meta.jurisdiction = jurisdiction
                try tx.saveMeta(meta)
            }
            try db.execute(sql: "DELETE FROM peer_checkpoint")
            return result
        }
    }

    /// This replica's changes that are not at the county yet (pending, forwarded or rejected), and, at a
    /// node, relayed changes waiting to go upstream: what a user must not lose, in log order.
    public func undelivered() throws -> [LogEntry] {
        try read { tx in
            guard let meta = try tx.meta() else { return [] }
            let own = try [Delivery.pending, .forwarded, .rejected].flatMap { try tx.entries(delivery: $0) }
            return own.filter { $0.change.origin == meta.replica || $0.delivery == .pending }.sorted { $0.seq < $1.seq }
        }
    }
}
