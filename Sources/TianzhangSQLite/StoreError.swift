import Foundation
import GRDB

/// A store failure, translated from GRDB (or from a stored JSON body that no longer decodes) at the
/// boundary: a stable code, a sentence a person can act on, and the underlying error.
///
/// Codes are stable; messages may improve. The description never includes SQL arguments (GRDB hides
/// them by default), so personal data in records stays out of logs.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// A stable error code, such as `"not_a_database"`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { rawValue = value }
        public var description: String { rawValue }

        /// The file cannot be opened or created (missing folder, no permission).
        public static let cannotOpen: Code = "cannot_open"
        /// The file exists but is not an SQLite database (or is encrypted or damaged).
        public static let notADatabase: Code = "not_a_database"
        /// The store was migrated by a newer program version.
        public static let newerSchema: Code = "newer_schema"
        /// A migration failed; the store is left at its previous version.
        public static let migrationFailed: Code = "migration_failed"
        /// Another process held the lock for longer than the busy timeout.
        public static let busy: Code = "busy"
        /// The file or its folder is read-only.
        public static let readOnly: Code = "read_only"
        /// The disk is full.
        public static let diskFull: Code = "disk_full"
        /// A value cannot be stored as a record of its type (malformed JSON, a parcel outside a village).
        public static let invalidRecord: Code = "invalid_record"
        /// A stored row no longer decodes to its domain type.
        public static let corruptRecord: Code = "corrupt_record"
        /// Any other SQLite failure.
        public static let storeFailed: Code = "store_failed"
    }

    public var code: Code
    public var message: String
    /// The underlying error (a GRDB `DatabaseError`, a `DecodingError`), when there is one.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { "\(code): \(message)" }

    /// Translates an error from GRDB or from decoding a stored body; a `StoreError` passes through.
    static func translate(_ error: any Error, path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if error is DecodingError {
            return StoreError(.corruptRecord, "A record stored in \(path) no longer decodes: \(JSON.describe(error))", cause: error)
        }
        guard let error = error as? DatabaseError else {
            return StoreError(.storeFailed, "The store at \(path) failed: \(error).", cause: error)
        }
        switch error.resultCode {
        case .SQLITE_NOTADB:
            return StoreError(.notADatabase, "\(path) is not a Tianzhang store: the file is not an SQLite database (or it is damaged or encrypted).", cause: error)
        case .SQLITE_CANTOPEN:
            return StoreError(.cannotOpen, "Cannot open \(path): check that its folder exists and is writable.", cause: error)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError(.busy, "The store at \(path) stayed locked by another process for more than \(Int(SQLiteReplicaStore.busyTimeoutSeconds)) s; try again.", cause: error)
        case .SQLITE_READONLY:
            return StoreError(.readOnly, "The store at \(path) is read-only: check the permissions of the file and its folder.", cause: error)
        case .SQLITE_FULL:
            return StoreError(.diskFull, "The disk holding \(path) is full.", cause: error)
        default:
            return StoreError(.storeFailed, "The store at \(path) failed: \(error.message ?? "\(error.resultCode)").", cause: error)
        }
    }
}
