import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// A replica's SQLite store, through GRDB on the system libsqlite3: one `DatabasePool` (WAL) per file
/// for the life of the process, or a `DatabaseQueue` in memory.
///
/// It is the sync engine's store (`SyncStore`): every engine step runs in one write transaction, which
/// also keeps the typed record tables (the materialized view) up to date. Writes are also available as
/// `static func … in db: Database` (`SQLiteReplicaStore+Writes.swift`) so callers compose their own
/// transactions through `writer`; reads for the township's screens are in `SQLiteReplicaStore+Queries.swift`.
///
/// ```swift
/// let store = try SQLiteReplicaStore(path: "node-371312001.sqlite")
/// try store.save(parcels: imported)
/// let today = try store.checkIns(onDay: Timestamp(milliseconds: now).day(offsetHours: 8))
/// ```
///
/// Connection settings: foreign keys on, busy timeout 5 s, `journal_mode = WAL` (pool), `synchronous = NORMAL`.
public final class SQLiteReplicaStore: SyncStore, Sendable {
    /// The database, for callers that compose their own transactions (`try store.writer.write { db in … }`).
    public let writer: any DatabaseWriter
    /// The file, or `nil` for an in-memory store.
    public let path: String?

    /// The local time of the county: China Standard Time, UTC+8 (check-in days are counted in it).
    public static let localOffsetHours: Int64 = 8
    /// How long a connection waits for another process's lock before failing with `busy`.
    public static let busyTimeoutSeconds: TimeInterval = 5

    /// Opens (creating if needed) and migrates the store at `path`.
    /// - Parameter path: the database file; its folder must exist.
    /// - Throws: `StoreError` (`cannot_open`, `not_a_database`, `newer_schema`, `migration_failed`).
    public init(path: String) throws {
        do {
            writer = try DatabasePool(path: path, configuration: Self.configuration())
        } catch {
            throw StoreError.translate(error, path: path)
        }
        self.path = path
        try migrate()
    }

    /// A store in memory (tests, dry runs).
    /// - Throws: `StoreError` (`migration_failed`).
    public init(inMemory: ()) throws {
        do { writer = try DatabaseQueue(configuration: Self.configuration()) } catch { throw StoreError.translate(error, path: ":memory:") }
        path = nil
        try migrate()
    }

    /// A store in memory (tests, dry runs).
    public static func inMemory() throws -> SQLiteReplicaStore { try SQLiteReplicaStore(inMemory: ()) }

    static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        // NORMAL is durable in WAL mode except for the last transactions before a power loss.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        return configuration
    }

    private func migrate() throws {
        let where_ = path ?? ":memory:"
        do {
            // A store written by a newer version has tables this code does not know how to keep in step.
            let unknown = try writer.read { db in
                try Schema.migrator.appliedIdentifiers(db).subtracting(Schema.migrator.migrations).sorted()
            }
            guard unknown.isEmpty else {
                throw StoreError(.newerSchema, "\(where_) was written by a newer Tianzhang (schema \(unknown.joined(separator: ", "))); upgrade this program to open it.")
            }
            try Schema.migrator.migrate(writer)
        } catch {
            let translated = StoreError.translate(error, path: where_)
            guard translated.code == .storeFailed, let cause = error as? DatabaseError else { throw translated }
            throw StoreError(.migrationFailed, "\(where_) could not be brought to the current schema: \(cause.message ?? "\(cause.resultCode)").", cause: cause)
        }
    }

    /// The migrations applied to this store, in the order they were registered (`v1-records`, …).
    public func appliedMigrations() throws -> [String] {
        try reading { db in try Schema.migrator.appliedMigrations(db) }
    }

    /// Whether every migration this code knows, and only those, has been applied.
    public func hasCompletedMigrations() throws -> Bool {
        try reading { db in try Schema.migrator.hasCompletedMigrations(db) }
    }

    /// The identifiers of every migration this code knows, in order.
    public static var migrations: [String] { Schema.migrator.migrations }

    // MARK: the boundary: GRDB errors become StoreError

    /// Runs a read, translating database and decoding errors to `StoreError`.
    func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.read(body) } catch { throw StoreError.translate(error, path: path ?? ":memory:") }
    }

    /// Runs a write transaction, translating database and decoding errors to `StoreError`.
    func writing<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.write(body) } catch { throw StoreError.translate(error, path: path ?? ":memory:") }
    }

    // MARK: SyncStore (errors of the engine's body pass through untouched)

    public func write<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try writer.write { db in
            let tx = SQLiteSyncTransaction(db)
            let result = try body(tx)
            try tx.finishBatch()
            return result
        }
    }

    public func read<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try writer.read { db in try body(SQLiteSyncTransaction(db)) }
    }
}

enum JSON {
    static var encoder: JSONEncoder { StoredJSON.encoder }

    static func text<T: Encodable>(_ value: T) throws -> String { try StoredJSON.text(value) }
    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try StoredJSON.decode(type, text) }

    /// A decoding error as a sentence naming the JSON path.
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return names.isEmpty ? "the top level" : String(names.drop(while: { $0 == "." }))
        }
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field \(parent == "the top level" ? key.stringValue : parent + "." + key.stringValue)."
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "invalid value at \(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
