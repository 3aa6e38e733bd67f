import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// Keeps the typed record tables in step with the merged states: each row is the materialized value
/// of its record. A record whose changes do not yet make a whole value (an edit that arrived before the
/// creation) has a merge state but no row until they do.
enum Materializer {
    static func write(_ state: RecordState, in db: Database) throws {
        let json = state.materialized
        func decoded<T: Decodable>(_ type: T.Type) -> T? { try? json.decode(as: T.self) }
        switch state.key.type {
        case .parcel: if let value = decoded(Parcel.self) { try upsert(value, in: db) } else { try delete(state.key, in: db) }
        case .enforcementCase:
            var object = json.objectValue ?? [:]
            for field in ["assignees", "parcelIDs"] where object[field] == nil { object[field] = .array([]) }
            if let value = try? JSONValue.object(object).decode(as: EnforcementCase.self) { try upsert(value, in: db) } else { try delete(state.key, in: db) }
        case .timelineEntry: if let value = decoded(TimelineEntry.self) { try upsert(value, in: db) }
        case .checkIn: if let value = decoded(CheckIn.self) { try upsert(value, in: db) }
        case .verificationTask: if let value = decoded(VerificationTask.self) { try upsert(value, in: db) }
        case .attachment: if let value = decoded(AttachmentMetadata.self) { try upsert(value, in: db) }
        case .fieldChief: if let value = decoded(FieldChief.self) { try upsert(value, in: db) }
        case .division: if let value = decoded(Division.self) { try upsert(value, in: db) }
        case .receipt, .correction: break
        }
    }

    static func delete(_ key: RecordKey, in db: Database) throws {
        let table: String? = switch key.type {
        case .parcel: "parcel"
        case .enforcementCase: "enforcement_case"
        case .timelineEntry: "timeline_entry"
        case .checkIn: "check_in"
        case .verificationTask: "verification_task"
        case .fieldChief: "field_chief"
        case .attachment, .division, .receipt, .correction: nil
        }
        if let table { try db.execute(sql: "DELETE FROM \(table) WHERE id = ?", arguments: [key.id]) }
        if key.type == .attachment { try db.execute(sql: "DELETE FROM attachment WHERE sha256 = ?", arguments: [key.id]) }
    }

    static func upsert(_ parcel: Parcel, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO parcel (id, village, township, land_class, area_mu, is_permanent_basic_farmland, field_chief, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                parcel.id.rawValue, parcel.village.rawValue, parcel.township.rawValue, parcel.landClass, parcel.areaMu,
                parcel.isPermanentBasicFarmland, parcel.fieldChief, try JSON.text(parcel),
            ])
    }

    static func upsert(_ record: EnforcementCase, in db: Database) throws {
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

    static func upsert(_ entry: TimelineEntry, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO timeline_entry (id, case_id, at, body) VALUES (?, ?, ?, ?)")
            .execute(arguments: [entry.id.rawValue, entry.caseID.rawValue, entry.at.milliseconds, try JSON.text(entry)])
    }

    static func upsert(_ checkIn: CheckIn, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO check_in (id, parcel_id, village, author, at, day, body) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [
                checkIn.id.rawValue, checkIn.parcelID.rawValue, checkIn.village.rawValue, checkIn.author, checkIn.at.milliseconds,
                checkIn.at.day(), try JSON.text(checkIn),
            ])
    }

    static func upsert(_ task: VerificationTask, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO verification_task (id, case_id, assignee, recipient, township, village, status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                task.id.rawValue, task.caseID.rawValue, task.assignee, task.recipient.rawValue, task.township.rawValue,
                task.village?.rawValue, task.status.rawValue, try JSON.text(task),
            ])
    }

    static func upsert(_ attachment: AttachmentMetadata, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO attachment (sha256, case_id, size_bytes, media_type, body) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [attachment.sha256, attachment.caseID?.rawValue, attachment.sizeBytes, attachment.mediaType, try JSON.text(attachment)])
    }

    static func upsert(_ chief: FieldChief, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO field_chief (id, division, body) VALUES (?, ?, ?)")
            .execute(arguments: [chief.id, chief.division.rawValue, try JSON.text(chief)])
    }

    static func upsert(_ division: Division, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO division (code, name, level, synthetic) VALUES (?, ?, ?, ?)")
            .execute(arguments: [division.code.rawValue, division.name, division.code.level.rawValue, division.synthetic])
    }
}
