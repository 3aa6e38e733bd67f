import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// Keeps the typed record tables in step with the merged states: each row is the materialized value
/// of its record. A record whose changes do not yet make a whole value (an edit that arrived before the
/// creation, or a creation refused upstream after a refold) has a merge state but no row until they do.
enum Materializer {
    static func write(_ state: RecordState, in db: Database) throws {
        // Receipts, corrections and enrolments have no table of their own (a receipt's accepted set is
        // long): nothing to work out.
        if [.receipt, .correction, .enrolment].contains(state.key.type) { return }
        let json = state.materialized
        func decoded<T: Decodable>(_ type: T.Type) -> T? { try? json.decode(as: T.self) }
        let written: Bool
        switch state.key.type {
        case .parcel: written = try upsert(decoded(Parcel.self), in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .enforcementCase:
            // Add-set fields that never received an element are absent from the merged state.
            var object = json.objectValue ?? [:]
            for field in ["assignees", "parcelIDs"] where object[field] == nil { object[field] = .array([]) }
            let value = try? JSONValue.object(object).decode(as: EnforcementCase.self)
            written = try upsert(value, in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .timelineEntry: written = try upsert(decoded(TimelineEntry.self), in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .checkIn: written = try upsert(decoded(CheckIn.self), in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .verificationTask: written = try upsert(decoded(VerificationTask.self), in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .attachment: written = try upsert(decoded(AttachmentMetadata.self), in: db) { try SQLiteReplicaStore.upsert($0, id: state.key.id, in: db) }
        case .fieldChief: written = try upsert(decoded(FieldChief.self), in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .division: written = try upsert(decoded(Division.self), in: db) { try SQLiteReplicaStore.upsert($0, in: db) }
        case .receipt, .correction, .enrolment: written = true
        }
        if !written { try delete(state.key, in: db) }
    }

    /// Upserts a value that decoded; a value that is not whole (or that the table refuses as invalid)
    /// is not materialized. - Returns: whether a row was written.
    private static func upsert<T>(_ value: T?, in db: Database, _ body: (T) throws -> Void) throws -> Bool {
        guard let value else { return false }
        do { try body(value) } catch let error as StoreError where error.code == .invalidRecord { return false }
        return true
    }

    static func delete(_ key: RecordKey, in db: Database) throws {
        try SQLiteReplicaStore.deleteRecord(type: key.type, id: key.id, in: db)
    }
}
