import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import TianzhangDomain
import TianzhangSync

/// A hub's sync store on PostgreSQL, through PostgresNIO: the same `SyncStore` the engine runs on
/// SQLite and in memory, and the same conformance tests (one test body, every store).
///
/// **Several hub processes on one database.** Any hub process may take any push or pull. A pull's
/// cursor is the change log's `seq`; the classic failure of a change feed is a cursor that passes a
/// sequence number whose transaction commits later (two writers take 10 and 11, 11 commits first, a
/// puller reads 11 and moves its checkpoint past 10 for ever). Here every write transaction first
/// takes one transaction-scoped advisory lock (`pg_advisory_xact_lock`), so log sequence numbers are
/// handed out in commit order: a snapshot that shows `seq = n` shows every `seq < n` that will ever
/// exist. The same lock makes the idempotency check (`UNIQUE (origin, origin_seq)` and the engine's
/// look-up) exact when one batch reaches two hubs at once: the second sees the first's commit.
/// Reads (pulls, digests) take no lock and run in parallel on every hub
/// (`docs/decisions/008-postgres-hub.md` says what this costs and what would lift it).
///
/// Each store holds one connection; its transactions run one at a time (a hub process opens one
/// store per worker it wants). The engine's calls are synchronous, so each statement waits for its
/// future on the calling thread — never on an event loop.
///
/// Tables live in `schema` (created if missing), so tests can give each store a schema of its own.
public final class PostgresSyncStore: SyncStore, @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var code: String
        public var description: String
    }

    /// The advisory lock key that orders log appends across hub processes ("TZ" "LOG" in ASCII).
    static let logLock: Int64 = 0x545A_4C4F47

    let connection: PostgresConnection
    let schema: String
    let logger: Logger
    /// Whether write transactions take the log-order lock. Always true in use; false only lets a test
    /// show the gap the lock prevents.
    let orderedCommits: Bool
    private let lock = NSLock()

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`) and creates the tables
    /// in `schema` if they are missing.
    /// - Throws: `Failure` (`bad_database_url`, `database_unreachable`, `migration_failed`).
    /// - Parameter orderedCommits: leave it true; false only to demonstrate, in a test, the skipped change it prevents.
    public init(url: String, schema: String = "tianzhang", orderedCommits: Bool = true, eventLoop: (any EventLoop)? = nil) throws {
        self.orderedCommits = orderedCommits
        guard Self.isIdentifier(schema) else {
            throw Failure(code: "bad_database_url", description: "Schema \"\(schema)\" is not a plain lower-case SQL identifier.")
        }
        let configuration = try Self.configuration(url)
        var logger = Logger(label: "tianzhang-postgres")
        logger.logLevel = .error
        self.logger = logger
        self.schema = schema
        let loop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.any()
        do {
            connection = try PostgresConnection.connect(on: loop, configuration: configuration, id: 1, logger: logger).wait()
        } catch {
            throw Failure(code: "database_unreachable", description: "Cannot reach PostgreSQL at \(Self.redacted(url)): \(String(reflecting: error))")
        }
        do {
            try migrate()
        } catch {
            throw Failure(code: "migration_failed", description: "Could not create the hub's tables in schema \(schema): \(String(reflecting: error))")
        }
    }

    deinit { try? connection.close().wait() }

    /// Parses a `postgres://` URL into a connection configuration (no TLS: loopback and county LANs).
    static func configuration(_ url: String) throws -> PostgresConnection.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let user = components.user else {
            throw Failure(code: "bad_database_url", description: "\(redacted(url)) is not a postgres://user@host[:port]/database URL.")
        }
        let database = String(components.path.drop { $0 == "/" })
        return PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
    }

    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" } && name.count < 60
    }

    // MARK: Statements

    /// A statement parameter.
    enum Bind {
        case text(String?)
        case int(Int64)
        case texts([String])
        case ints([Int64])
    }

    /// Runs one statement and waits for all its rows.
    @discardableResult
    func execute(_ sql: String, _ binds: [Bind] = []) throws -> [PostgresRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for bind in binds {
            switch bind {
            case .text(let text?): try bindings.append(text)
            case .text(nil): bindings.appendNull()
            case .int(let number): try bindings.append(number)
            case .texts(let texts): try bindings.append(texts)
            case .ints(let numbers): try bindings.append(numbers)
            }
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        let result: EventLoopFuture<PostgresQueryResult> = connection.query(query, logger: logger)
        return try result.wait().rows
    }

    private func migrate() throws {
        try execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
        // One statement at a time (the extended protocol runs one command per query).
        for statement in Self.schemaStatements(schema) { try execute(statement) }
    }

    /// The hub's sync tables: as in SQLite (`Sources/TianzhangSQLite/Schema.swift`, `v2-sync`), without
    /// the materialized record tables (a township's screens read SQLite; the county's read `record_state`).
    static func schemaStatements(_ schema: String) -> [String] {
        [
            "CREATE TABLE IF NOT EXISTS \(schema).replica_meta (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS \(schema).record_state (
                record_type TEXT NOT NULL, record_id TEXT NOT NULL, scope TEXT NOT NULL COLLATE "C", state TEXT NOT NULL,
                PRIMARY KEY (record_type, record_id))
            """,
            "CREATE INDEX IF NOT EXISTS record_state_scope ON \(schema).record_state (scope)",
            "CREATE SEQUENCE IF NOT EXISTS \(schema).change_log_seq",
            """
            CREATE TABLE IF NOT EXISTS \(schema).change_log (
                seq BIGINT PRIMARY KEY DEFAULT nextval('\(schema).change_log_seq'), origin TEXT NOT NULL, origin_seq BIGINT NOT NULL,
                record_type TEXT NOT NULL, record_id TEXT NOT NULL, scope TEXT NOT NULL COLLATE "C", delivery TEXT NOT NULL,
                rejection TEXT, amended_by TEXT, body TEXT NOT NULL, UNIQUE (origin, origin_seq))
            """,
            "CREATE INDEX IF NOT EXISTS change_log_delivery ON \(schema).change_log (delivery, seq)",
            "CREATE INDEX IF NOT EXISTS change_log_record ON \(schema).change_log (record_type, record_id)",
            "CREATE INDEX IF NOT EXISTS change_log_scope ON \(schema).change_log (scope, seq)",
            """
            CREATE TABLE IF NOT EXISTS \(schema).received_rejection (
                origin TEXT NOT NULL, origin_seq BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (origin, origin_seq))
            """,
            "CREATE TABLE IF NOT EXISTS \(schema).peer_checkpoint (peer TEXT PRIMARY KEY, cursor BIGINT NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS \(schema).credential (
                token_hash TEXT PRIMARY KEY, replica TEXT NOT NULL, jurisdiction TEXT NOT NULL, issued_at BIGINT NOT NULL, revoked_at BIGINT)
            """,
            "CREATE INDEX IF NOT EXISTS credential_replica ON \(schema).credential (replica)",
            // Change signatures (SPEC §2.7): the public key of the credential's holder.
            "ALTER TABLE \(schema).credential ADD COLUMN IF NOT EXISTS public_key TEXT",
        ]
    }

    // MARK: SyncStore

    public func write<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL READ COMMITTED", ordered: orderedCommits, body)
    }

    public func read<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", ordered: false, body)
    }

    func transaction<T>(begin: String, ordered: Bool, _ body: (PostgresSyncTransaction) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        try execute(begin)
        do {
            if ordered { try execute("SELECT pg_advisory_xact_lock($1)", [.int(Self.logLock)]) }
            let transaction = PostgresSyncTransaction(store: self, buffered: ordered)
            let result = try body(transaction)
            try transaction.flush()
            try execute("COMMIT")
            return result
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// Drops this store's schema and everything in it (tests).
    public func dropSchema() throws {
        lock.lock()
        defer { lock.unlock() }
        try execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
    }
}
