import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// A store failure, translated from GRDB at the boundary: a stable code, a sentence, the cause.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var code: String
    public var message: String
    public var cause: String?
    public var description: String { "\(code): \(message)" + (cause.map { " (\($0))" } ?? "") }
}

/// A replica's SQLite store, through GRDB on the system libsqlite3: one `DatabasePool` (WAL) per file
/// for the life of the process, or a `DatabaseQueue` in memory.
///
/// It is the sync engine's store (`SyncStore`): every engine step runs in one write transaction, which
/// also keeps the typed record tables (the materialized view) up to date. Reads for the township's
/// screens go through the query methods in `SQLiteReplicaStore+Queries.swift`.
public final class SQLiteReplicaStore: SyncStore, Sendable {
    public let writer: any DatabaseWriter
    public let path: String?

    /// Opens (creating if needed) and migrates the store at `path`.
    /// - Throws: `StoreError` (`cannot_open`, `not_a_database`, `migration_failed`).
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            writer = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw Self.translate(error, opening: path)
        }
        self.path = path
        try migrate()
    }

    /// A store in memory (tests, dry runs).
    public init(inMemory: ()) throws {
        writer = try DatabaseQueue()
        path = nil
        try migrate()
    }

    public static func inMemory() throws -> SQLiteReplicaStore { try SQLiteReplicaStore(inMemory: ()) }

    private func migrate() throws {
        do { try Schema.migrator.migrate(writer) } catch {
            throw Self.translate(error, opening: path ?? ":memory:")
        }
    }

    /// The migrations applied to this store, in order.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Schema.migrator.appliedIdentifiers(db) }.sorted()
    }

    static func translate(_ error: any Error, opening path: String) -> StoreError {
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_NOTADB:
                return StoreError(code: "not_a_database", message: "\(path) is not a Tianzhang store (not an SQLite database).", cause: "\(error.resultCode)")
            case .SQLITE_CANTOPEN:
                return StoreError(code: "cannot_open", message: "Cannot open \(path): check that its folder exists and is writable.", cause: "\(error.resultCode)")
            default:
                return StoreError(code: "store_failed", message: "The store at \(path) failed: \(error.message ?? "\(error.resultCode)").", cause: "\(error.resultCode)")
            }
        }
        return StoreError(code: "store_failed", message: "The store at \(path) failed.", cause: "\(error)")
    }

    // MARK: SyncStore

    public func write<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try writer.write { db in try body(SQLiteSyncTransaction(db)) }
    }

    public func read<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try writer.read { db in try body(SQLiteSyncTransaction(db)) }
    }
}

enum JSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func text<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try JSONDecoder().decode(T.self, from: Data(text.utf8)) }
}
