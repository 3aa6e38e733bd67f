import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// The engine's primitive operations on one GRDB transaction, with cached prepared statements on the
/// hot paths (appending to the log, saving merge states).
struct SQLiteSyncTransaction: SyncTransaction {
    let db: Database

    init(_ db: Database) { self.db = db }

    func meta() throws -> ReplicaMeta? {
        try String.fetchOne(db, sql: "SELECT body FROM replica_meta WHERE id = 1").map { try JSON.decode(ReplicaMeta.self, $0) }
    }

    func saveMeta(_ meta: ReplicaMeta) throws {
        try db.cachedStatement(sql: "INSERT INTO replica_meta (id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body")
            .execute(arguments: [try JSON.text(meta)])
    }

    func recordState(_ key: RecordKey) throws -> RecordState? {
        try DatabaseValue.fetchOne(
            db.cachedStatement(sql: "SELECT state FROM record_state WHERE record_type = ? AND record_id = ?"),
            arguments: [key.type.rawValue, key.id]
        ).map(StoredState.decode)
    }

    func saveRecordState(_ state: RecordState) throws {
        try db.cachedStatement(sql: """
            INSERT INTO record_state (record_type, record_id, scope, state) VALUES (?, ?, ?, ?)
            ON CONFLICT(record_type, record_id) DO UPDATE SET scope = excluded.scope, state = excluded.state
            """).execute(arguments: [state.key.type.rawValue, state.key.id, state.scope.rawValue, StoredState.encode(state)])
        try Materializer.write(state, in: db)
    }

    func deleteRecordState(_ key: RecordKey) throws {
        try db.execute(sql: "DELETE FROM record_state WHERE record_type = ? AND record_id = ?", arguments: [key.type.rawValue, key.id])
        try Materializer.delete(key, in: db)
    }

    func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] {
        let (clause, arguments) = Self.scopeFilter(jurisdiction, column: "scope")
        return try DatabaseValue.fetchAll(db, sql: "SELECT state FROM record_state WHERE \(clause) ORDER BY record_type, record_id", arguments: arguments)
            .map(StoredState.decode)
            .sorted { $0.key < $1.key }
    }

    func forEachRecordState(in jurisdiction: Jurisdiction, _ body: (RecordState) throws -> Void) throws {
        let (clause, arguments) = Self.scopeFilter(jurisdiction, column: "scope")
        let states = try DatabaseValue.fetchCursor(db, sql: "SELECT state FROM record_state WHERE \(clause)", arguments: arguments)
        while let value = try states.next() { try body(try StoredState.decode(value)) }
    }

    /// SQL for "the scope lies in this jurisdiction" on an indexed text column.
    static func scopeFilter(_ jurisdiction: Jurisdiction, column: String) -> (String, StatementArguments) {
        switch jurisdiction {
        case .county(let code), .township(let code):
            return ("(\(column) >= ? AND \(column) < ?)", [code.rawValue, code.rawValue + "\u{7F}"])
        case .villages(let codes):
            let sorted = codes.sorted().map(\.rawValue)
            return ("\(column) IN (\(sorted.map { _ in "?" }.joined(separator: ",")))", StatementArguments(sorted))
        case .adjustedTownship(let code, let added, let removed):
            // The township's range, plus the villages moved in, minus the villages moved out.
            var clause = "(\(column) >= ? AND \(column) < ?)"
            var arguments: StatementArguments = [code.rawValue, code.rawValue + "\u{7F}"]
            if !added.isEmpty {
                clause = "(\(clause) OR \(column) IN (\(added.map { _ in "?" }.joined(separator: ","))))"
                arguments += StatementArguments(added.sorted().map(\.rawValue))
            }
            if !removed.isEmpty {
                clause = "(\(clause) AND \(column) NOT IN (\(removed.map { _ in "?" }.joined(separator: ","))))"
                arguments += StatementArguments(removed.sorted().map(\.rawValue))
            }
            return (clause, arguments)
        }
    }

    private static let logColumns = "seq, delivery, rejection, amended_by, body"

    private func entry(_ row: Row) throws -> LogEntry {
        LogEntry(
            seq: UInt64(row["seq"] as Int64), change: try StoredJSON.change(row["body"]),
            delivery: Delivery(rawValue: row["delivery"]) ?? .received,
            rejection: try (row["rejection"] as String?).map { try JSON.decode(Rejection.self, $0) },
            amendedBy: (row["amended_by"] as String?).flatMap(ChangeID.init))
    }

    func logEntry(_ id: ChangeID) throws -> LogEntry? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Self.logColumns) FROM change_log WHERE origin = ? AND origin_seq = ?"),
            arguments: [id.origin.rawValue, Int64(id.seq)]
        ).map(entry)
    }

    func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 {
        try db.cachedStatement(sql: """
            INSERT INTO change_log (origin, origin_seq, record_type, record_id, scope, delivery, rejection, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                change.origin.rawValue, Int64(change.id.seq), change.recordTypeName, change.recordID, change.scope.rawValue,
                delivery.rawValue, try rejection.map(JSON.text), try JSON.text(change),
            ])
        return UInt64(db.lastInsertedRowID)
    }

    func updateLog(_ entry: LogEntry) throws {
        try db.cachedStatement(sql: "UPDATE change_log SET delivery = ?, rejection = ?, amended_by = ? WHERE origin = ? AND origin_seq = ?")
            .execute(arguments: [
                entry.delivery.rawValue, try entry.rejection.map(JSON.text), entry.amendedBy?.description,
                entry.change.origin.rawValue, Int64(entry.change.id.seq),
            ])
    }

    func foldableChanges(of key: RecordKey) throws -> [Change] {
        try String.fetchAll(
            db, sql: "SELECT body FROM change_log WHERE record_type = ? AND record_id = ? AND delivery != 'rejected' ORDER BY seq",
            arguments: [key.type.rawValue, key.id]
        ).map { try StoredJSON.change($0) }
    }

    func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool) {
        let (clause, scopeArguments) = Self.scopeFilter(jurisdiction, column: "scope")
        var arguments: StatementArguments = [Int64(after)]
        arguments += scopeArguments
        arguments += [excluding?.rawValue ?? "", limit + 1]
        let rows = try Row.fetchAll(db, sql: """
            SELECT \(Self.logColumns) FROM change_log WHERE seq > ? AND \(clause) AND origin != ? ORDER BY seq LIMIT ?
            """, arguments: arguments)
        let entries = try rows.prefix(limit).map(entry)
        if rows.count > limit { return (entries, entries.last!.seq, true) }
        let end = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM change_log") ?? 0
        return (entries, max(after, UInt64(end)), false)
    }

    func pendingEntries(limit: Int) throws -> [LogEntry] {
        try Row.fetchAll(db, sql: "SELECT \(Self.logColumns) FROM change_log WHERE delivery = 'pending' ORDER BY seq LIMIT ?", arguments: [limit]).map(entry)
    }

    func entries(delivery: Delivery) throws -> [LogEntry] {
        try Row.fetchAll(db, sql: "SELECT \(Self.logColumns) FROM change_log WHERE delivery = ? ORDER BY seq", arguments: [delivery.rawValue]).map(entry)
    }

    func highestSeq(of origin: ReplicaID) throws -> UInt64? {
        let logged = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(origin_seq), 0) FROM change_log WHERE origin = ?", arguments: [origin.rawValue]) ?? 0
        let refused = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(origin_seq), 0) FROM received_rejection WHERE origin = ?", arguments: [origin.rawValue]) ?? 0
        return UInt64(max(logged, refused))
    }

    func removeLogEntry(_ id: ChangeID) throws -> Bool {
        try db.execute(sql: "DELETE FROM change_log WHERE origin = ? AND origin_seq = ?", arguments: [id.origin.rawValue, Int64(id.seq)])
        return true
    }

    func logHead() throws -> UInt64? {
        // AUTOINCREMENT remembers the highest seq ever handed out, also when entries were removed since.
        let handedOut = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'change_log'") ?? 0
        let highest = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM change_log") ?? 0
        return UInt64(max(handedOut, highest))
    }

    func receivedRejection(_ id: ChangeID) throws -> Rejection? {
        try String.fetchOne(db, sql: "SELECT body FROM received_rejection WHERE origin = ? AND origin_seq = ?", arguments: [id.origin.rawValue, Int64(id.seq)])
            .map { try JSON.decode(Rejection.self, $0) }
    }

    func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO received_rejection (origin, origin_seq, body) VALUES (?, ?, ?)",
            arguments: [id.origin.rawValue, Int64(id.seq), try JSON.text(rejection)])
    }

    func checkpoint(peer: String) throws -> UInt64 {
        UInt64(try Int64.fetchOne(db, sql: "SELECT cursor FROM peer_checkpoint WHERE peer = ?", arguments: [peer]) ?? 0)
    }

    func saveCheckpoint(peer: String, cursor: UInt64) throws {
        try db.execute(
            sql: "INSERT INTO peer_checkpoint (peer, cursor) VALUES (?, ?) ON CONFLICT(peer) DO UPDATE SET cursor = excluded.cursor",
            arguments: [peer, Int64(cursor)])
    }
}

/// A merge state as a `record_state.state` value: the binary form (`StateCodec`, a blob) since migration
/// v7; a version 1 JSON text is still read.
enum StoredState {
    static func encode(_ state: RecordState) -> Data { Data(StateCodec.encode(state)) }

    static func decode(_ value: DatabaseValue) throws -> RecordState {
        switch value.storage {
        case .blob(let data): return try StateCodec.decode(Array(data))
        case .string(let text): return try JSON.decode(RecordState.self, text)
        default: throw StateCodec.Malformed(description: "a merge state is neither a blob nor JSON text")
        }
    }
}
