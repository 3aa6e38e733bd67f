import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

// Writes into the materialized record tables.
//
// Every write exists as a `static func … in db: Database`, so the sync layer composes it into its own
// transaction: a record table row is the *materialized* merged state of a record and is written in the
// same transaction as the sync metadata that produced it (`record_state`, `change_log`, … of migration
// `v2-sync`). The instance method `save(…)` is the convenience for imports and fixtures: one write
// transaction, cached prepared statements (about 5× faster than Codable `insert` for bulk loads).

extension SQLiteReplicaStore {
    // MARK: typed upserts (compose inside any write transaction)

    /// Inserts or replaces a parcel row (query columns plus the JSON body).
    /// - Throws: `StoreError` (`invalid_record`) when the parcel's village is not a village code;
    ///   `DatabaseError` from SQLite (translated by the instance methods, not here).
    public static func upsert(_ parcel: Parcel, in db: Database) throws {
        guard parcel.village.level == .village, let township = parcel.village.township else {
            throw StoreError(.invalidRecord, "Parcel \(parcel.id) lies in \(parcel.village), which is not a village (12 digits); it cannot be stored.")
        }
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO parcel (id, village, township, land_class, area_mu, is_permanent_basic_farmland, field_chief, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                parcel.id.rawValue, parcel.village.rawValue, township.rawValue, parcel.landClass, parcel.areaMu,
                parcel.isPermanentBasicFarmland, parcel.fieldChief, try JSON.text(parcel),
            ])
    }

    /// Inserts or replaces a case row, with its "three ones" deadlines as indexed columns.
    public static func upsert(_ record: EnforcementCase, in db: Database) throws {
        let deadlines = record.deadlines
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO enforcement_case (id, township, village, status, round, discovered_at, report_by, on_site_by, restore_by, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                record.id.rawValue, record.township.rawValue, record.village?.rawValue, record.status.rawValue, record.round,
                record.discoveredAt.milliseconds, deadlines.reportBy.milliseconds, deadlines.onSiteBy.milliseconds,
                deadlines.restoreBy.milliseconds, try JSON.text(record),
            ])
    }

    /// Inserts or replaces a timeline entry row.
    public static func upsert(_ entry: TimelineEntry, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO timeline_entry (id, case_id, at, body) VALUES (?, ?, ?, ?)")
            .execute(arguments: [entry.id.rawValue, entry.caseID.rawValue, entry.at.milliseconds, try JSON.text(entry)])
    }

    /// Inserts or replaces a check-in row; `day` is its local China day (`Timestamp.day(offsetHours: 8)`).
    public static func upsert(_ checkIn: CheckIn, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO check_in (id, parcel_id, village, author, at, day, body) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [
                checkIn.id.rawValue, checkIn.parcelID.rawValue, checkIn.village.rawValue, checkIn.author, checkIn.at.milliseconds,
                checkIn.at.day(offsetHours: SQLiteReplicaStore.localOffsetHours), try JSON.text(checkIn),
            ])
    }

    /// Inserts or replaces a verification task row.
    public static func upsert(_ task: VerificationTask, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO verification_task (id, case_id, assignee, recipient, township, village, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                task.id.rawValue, task.caseID.rawValue, task.assignee, task.recipient.rawValue, task.township.rawValue,
                task.village?.rawValue, task.status.rawValue, try JSON.text(task),
            ])
    }

    /// Inserts or replaces an attachment's metadata row, keyed by its record id (by default its SHA-256,
    /// the id of records made before ids per case and digest).
    public static func upsert(_ attachment: AttachmentMetadata, id: String? = nil, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO attachment (id, sha256, case_id, size_bytes, media_type, body) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [id ?? attachment.sha256, attachment.sha256, attachment.caseID?.rawValue, attachment.sizeBytes, attachment.mediaType, try JSON.text(attachment)])
    }

    /// Inserts or replaces a field chief row.
    public static func upsert(_ chief: FieldChief, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO field_chief (id, division, body) VALUES (?, ?, ?)")
            .execute(arguments: [chief.id, chief.division.rawValue, try JSON.text(chief)])
    }

    /// Inserts or replaces a division row (its columns hold the whole value: code, name, level, synthetic).
    public static func upsert(_ division: Division, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO division (code, name, level, synthetic) VALUES (?, ?, ?, ?)")
            .execute(arguments: [division.code.rawValue, division.name, division.code.level.rawValue, division.synthetic])
    }

    // MARK: the generic materialization hook of the sync layer

    /// Decodes the full JSON of a domain value of `type` and upserts it, filling the typed query columns.
    ///
    /// Record types without a table of their own (`receipt`, `correction`: they live in the sync state
    /// only) are accepted and ignored, so the sync layer may call this for every record it folds.
    /// - Parameters:
    ///   - type: the record type; selects the domain type the JSON must decode to.
    ///   - json: the JSON of the whole value (`JSONEncoder` output of `Parcel`, `EnforcementCase`, …).
    ///   - db: the connection of the caller's write transaction.
    /// - Returns: whether a row was written (`false` for types without a table).
    /// - Throws: `StoreError` (`invalid_record`) naming the type and the JSON path when the JSON is not a
    ///   whole value of that type; `DatabaseError` from SQLite.
    @discardableResult
    public static func upsertRecord(type: RecordType, json: Data, in db: Database) throws -> Bool {
        func decoded<T: Decodable>(_ swiftType: T.Type) throws -> T {
            do { return try JSONDecoder().decode(T.self, from: json) } catch {
                throw StoreError(.invalidRecord, "The JSON of a \(type.rawValue) record is not a whole \(T.self): \(JSON.describe(error))", cause: error)
            }
        }
        switch type {
        case .parcel: try upsert(try decoded(Parcel.self), in: db)
        case .enforcementCase: try upsert(try decoded(EnforcementCase.self), in: db)
        case .timelineEntry: try upsert(try decoded(TimelineEntry.self), in: db)
        case .checkIn: try upsert(try decoded(CheckIn.self), in: db)
        case .verificationTask: try upsert(try decoded(VerificationTask.self), in: db)
        case .attachment: try upsert(try decoded(AttachmentMetadata.self), in: db)
        case .fieldChief: try upsert(try decoded(FieldChief.self), in: db)
        case .division: try upsert(try decoded(Division.self), in: db)
        case .receipt, .correction, .enrolment: return false
        }
        return true
    }

    /// Removes the materialized row of a record, if any (a division by its code).
    /// - Returns: whether a row was removed.
    @discardableResult
    public static func deleteRecord(type: RecordType, id: String, in db: Database) throws -> Bool {
        guard let (table, column) = table(of: type) else { return false }
        try db.execute(sql: "DELETE FROM \(table) WHERE \(column) = ?", arguments: [id])
        return db.changesCount > 0
    }

    /// The table and primary-key column of a record type; `nil` for types without a table.
    static func table(of type: RecordType) -> (table: String, key: String)? {
        switch type {
        case .parcel: ("parcel", "id")
        case .enforcementCase: ("enforcement_case", "id")
        case .timelineEntry: ("timeline_entry", "id")
        case .checkIn: ("check_in", "id")
        case .verificationTask: ("verification_task", "id")
        case .attachment: ("attachment", "id")
        case .fieldChief: ("field_chief", "id")
        case .division: ("division", "code")
        case .receipt, .correction, .enrolment: nil
        }
    }

    // MARK: convenience writes (one transaction each)

    /// Saves values straight into the record tables, in one write transaction with cached statements.
    ///
    /// For local reference imports and fixtures: these rows do not sync. Records that must sync are
    /// recorded through the `SyncEngine`, which materializes them into the same tables.
    /// - Throws: `StoreError` (`invalid_record`, `busy`, `read_only`, `disk_full`, `store_failed`); nothing is saved then.
    public func save(parcels: [Parcel] = [], cases: [EnforcementCase] = [], timeline: [TimelineEntry] = [], checkIns: [CheckIn] = [],
                     tasks: [VerificationTask] = [], attachments: [AttachmentMetadata] = [], chiefs: [FieldChief] = [], divisions: [Division] = []) throws {
        try writing { db in
            for value in parcels { try Self.upsert(value, in: db) }
            for value in cases { try Self.upsert(value, in: db) }
            for value in timeline { try Self.upsert(value, in: db) }
            for value in checkIns { try Self.upsert(value, in: db) }
            for value in tasks { try Self.upsert(value, in: db) }
            for value in attachments { try Self.upsert(value, in: db) }
            for value in chiefs { try Self.upsert(value, in: db) }
            for value in divisions { try Self.upsert(value, in: db) }
        }
    }

    /// Materializes one record from its JSON in its own transaction (see `upsertRecord(type:json:in:)`).
    @discardableResult
    public func saveRecord(type: RecordType, json: Data) throws -> Bool {
        try writing { db in try Self.upsertRecord(type: type, json: json, in: db) }
    }

    /// Removes one record's row in its own transaction (see `deleteRecord(type:id:in:)`).
    @discardableResult
    public func removeRecord(type: RecordType, id: String) throws -> Bool {
        try writing { db in try Self.deleteRecord(type: type, id: id, in: db) }
    }
}
