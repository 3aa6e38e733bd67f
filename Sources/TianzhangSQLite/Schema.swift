import GRDB
import TianzhangSync

/// The replica schema, as versioned migrations. Tables are singular and snake_case.
///
/// `v1-records`: the materialized records a township queries (parcels of a village, open cases, cases
/// past a deadline, check-ins of a day …). Each row holds indexed query columns plus `body`, the full
/// JSON of the domain value, so reading back is lossless.
/// `v2-sync`: the sync core's state — merge state per record, the change log (which is also the
/// outbox: entries with `delivery = 'pending'`), refusals given, per-peer checkpoints, replica meta —
/// written in the same transaction as the records they describe.
/// `v3-enrolment`: at the hub, the credentials it issued (only a SHA-256 of each secret is kept), and at
/// every replica, its settings (the hub's address, its own credential).
/// `v4-deadline-indexes`: one index per "three ones" deadline column, for `casesPastDeadline(at:)`.
/// `v7-bounded-merge-state`: every record's merge state rewritten in the bounded form, as a binary blob
/// (`StateCodec`, decision 012).
///
/// Migrations are append-only: a released migration is never edited (GRDB would not re-run it on stores
/// that already applied it); a schema change is a new migration with the next number.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-records") { db in
            try db.execute(sql: """
                CREATE TABLE division (code TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, synthetic INTEGER NOT NULL);
                CREATE TABLE field_chief (id TEXT PRIMARY KEY, division TEXT NOT NULL, body TEXT NOT NULL);
                CREATE INDEX field_chief_division ON field_chief(division);
                CREATE TABLE parcel (
                    id TEXT PRIMARY KEY, village TEXT NOT NULL, township TEXT NOT NULL, land_class TEXT NOT NULL,
                    area_mu REAL NOT NULL, is_permanent_basic_farmland INTEGER NOT NULL, field_chief TEXT, body TEXT NOT NULL);
                CREATE INDEX parcel_village ON parcel(village);
                CREATE INDEX parcel_township ON parcel(township);
                CREATE TABLE enforcement_case (
                    id TEXT PRIMARY KEY, township TEXT NOT NULL, village TEXT, status TEXT NOT NULL, round INTEGER NOT NULL,
                    discovered_at INTEGER NOT NULL, report_by INTEGER NOT NULL, on_site_by INTEGER NOT NULL, restore_by INTEGER NOT NULL,
                    body TEXT NOT NULL);
                CREATE INDEX enforcement_case_status ON enforcement_case(status, discovered_at);
                CREATE INDEX enforcement_case_township ON enforcement_case(township);
                CREATE TABLE timeline_entry (id TEXT PRIMARY KEY, case_id TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL);
                CREATE INDEX timeline_entry_case ON timeline_entry(case_id, at);
                CREATE TABLE check_in (
                    id TEXT PRIMARY KEY, parcel_id TEXT NOT NULL, village TEXT NOT NULL, author TEXT NOT NULL, at INTEGER NOT NULL,
                    day INTEGER NOT NULL, body TEXT NOT NULL);
                CREATE INDEX check_in_day ON check_in(day, village);
                CREATE TABLE verification_task (
                    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, assignee TEXT NOT NULL, recipient TEXT NOT NULL, township TEXT NOT NULL,
                    village TEXT, status TEXT NOT NULL, body TEXT NOT NULL);
                CREATE INDEX verification_task_assignee ON verification_task(assignee, status);
                CREATE TABLE attachment (sha256 TEXT PRIMARY KEY, case_id TEXT, size_bytes INTEGER NOT NULL, media_type TEXT NOT NULL, body TEXT NOT NULL);
                CREATE INDEX attachment_case ON attachment(case_id);
                """)
        }
        migrator.registerMigration("v2-sync") { db in
            try db.execute(sql: """
                CREATE TABLE replica_meta (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
                CREATE TABLE record_state (
                    record_type TEXT NOT NULL, record_id TEXT NOT NULL, scope TEXT NOT NULL, state TEXT NOT NULL,
                    PRIMARY KEY (record_type, record_id));
                CREATE INDEX record_state_scope ON record_state(scope);
                CREATE TABLE change_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, origin_seq INTEGER NOT NULL,
                    record_type TEXT NOT NULL, record_id TEXT NOT NULL, scope TEXT NOT NULL, delivery TEXT NOT NULL,
                    rejection TEXT, amended_by TEXT, body TEXT NOT NULL, UNIQUE (origin, origin_seq));
                CREATE INDEX change_log_delivery ON change_log(delivery, seq);
                CREATE INDEX change_log_record ON change_log(record_type, record_id);
                CREATE INDEX change_log_scope ON change_log(scope, seq);
                CREATE TABLE received_rejection (origin TEXT NOT NULL, origin_seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (origin, origin_seq));
                CREATE TABLE peer_checkpoint (peer TEXT PRIMARY KEY, cursor INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v3-enrolment") { db in
            try db.execute(sql: """
                CREATE TABLE credential (
                    token_hash TEXT PRIMARY KEY, replica TEXT NOT NULL, jurisdiction TEXT NOT NULL,
                    issued_at INTEGER NOT NULL, revoked_at INTEGER);
                CREATE INDEX credential_replica ON credential(replica);
                CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v4-deadline-indexes") { db in
            // `casesPastDeadline(at:)` is an OR of one range per deadline; each term has its index.
            try db.execute(sql: """
                CREATE INDEX enforcement_case_report_by ON enforcement_case(status, report_by);
                CREATE INDEX enforcement_case_on_site_by ON enforcement_case(status, on_site_by);
                CREATE INDEX enforcement_case_restore_by ON enforcement_case(status, restore_by);
                """)
        }
        migrator.registerMigration("v5-attachment-per-record") { db in
            // Attachment records are per (case, digest) (SPEC §10): the row is keyed by the record id, and
            // several records may share one digest. Older records' id is their digest.
            try db.execute(sql: """
                CREATE TABLE attachment_v5 (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, case_id TEXT, size_bytes INTEGER NOT NULL, media_type TEXT NOT NULL, body TEXT NOT NULL);
                INSERT INTO attachment_v5 (id, sha256, case_id, size_bytes, media_type, body) SELECT sha256, sha256, case_id, size_bytes, media_type, body FROM attachment;
                DROP TABLE attachment;
                ALTER TABLE attachment_v5 RENAME TO attachment;
                CREATE INDEX attachment_case ON attachment(case_id);
                CREATE INDEX attachment_sha256 ON attachment(sha256);
                """)
        }
        migrator.registerMigration("v6-signing-keys") { db in
            // Change signatures (SPEC §2.7): the public key of each credential's holder.
            try db.execute(sql: "ALTER TABLE credential ADD COLUMN public_key TEXT")
        }
        migrator.registerMigration("v7-bounded-merge-state") { db in
            // Protocol v2's merge state (decision 012): a causal context per field instead of every write
            // and superseded id. Each record is folded again from its changes that still stand; a record
            // whose changes are no longer in the log keeps its state, converted (`RecordState`'s decoder
            // reads version 1). The materialized rows do not change: the same changes give the same values.
            let rows = try Row.fetchAll(db, sql: "SELECT record_type, record_id, state FROM record_state")
            for row in rows {
                let type: String = row["record_type"], id: String = row["record_id"]
                let changes = try String.fetchAll(db, sql: """
                    SELECT body FROM change_log WHERE record_type = ? AND record_id = ? AND delivery != 'rejected'
                    """, arguments: [type, id]).map { try StoredJSON.change($0) }
                var state = try StoredState.decode(row["state"])
                if let folded = RecordState(folding: changes, key: state.key) { state = folded }
                try db.execute(
                    sql: "UPDATE record_state SET scope = ?, state = ? WHERE record_type = ? AND record_id = ?",
                    arguments: [state.scope.rawValue, StoredState.encode(state), type, id])
            }
        }
        return migrator
    }
}
