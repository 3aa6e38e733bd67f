import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// The engine's primitive operations on one GRDB transaction, with cached prepared statements on the
/// hot paths (appending to the log, saving merge states).
///
/// A batch (`prefetch`, called by the engine for a push or a pull page) is read in three statements —
/// its records' merge states, its changes' log entries and refusals — and decoded once; from then on
/// the transaction answers those reads from memory and keeps the merge states it is given, writing
/// them back set-wise (multi-row upserts, then each record's row once) at `finishBatch`, before any
/// read of states by SQL, and when the store commits (`SQLiteReplicaStore.write`).
struct SQLiteSyncTransaction: SyncTransaction {
    let db: Database
    let batch = Batch()

    init(_ db: Database) { self.db = db }

    final class Batch {
        /// Whether saved states wait in `dirty` (between `prefetch` and `finishBatch`).
        var open = false
        /// Known merge states (`.some(nil)`: known to be absent).
        var states: [RecordKey: RecordState?] = [:]
        /// States saved since the last write-back, in the order first saved.
        var dirty: [RecordKey] = []
        var dirtySet: Set<RecordKey> = []
        /// Known log entries and refusals of the batch's changes (`.some(nil)`: known to be absent).
        var entries: [ChangeID: LogEntry?] = [:]
        var refusals: [ChangeID: Rejection?] = [:]
    }

    func meta() throws -> ReplicaMeta? {
        try String.fetchOne(db, sql: "SELECT body FROM replica_meta WHERE id = 1").map { try JSON.decode(ReplicaMeta.self, $0) }
    }

    func saveMeta(_ meta: ReplicaMeta) throws {
        try db.cachedStatement(sql: "INSERT INTO replica_meta (id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body")
            .execute(arguments: [try JSON.text(meta)])
    }

    func recordState(_ key: RecordKey) throws -> RecordState? {
        if let known = batch.states[key] { return known }
        let state = try DatabaseValue.fetchOne(
            db.cachedStatement(sql: "SELECT state FROM record_state WHERE record_type = ? AND record_id = ?"),
            arguments: [key.type.rawValue, key.id]
        ).map(StoredState.decode)
        if batch.open { batch.states[key] = .some(state) }
        return state
    }

    func saveRecordState(_ state: RecordState) throws {
        guard batch.open else { return try write([state]) }
        batch.states[state.key] = .some(state)
        if batch.dirtySet.insert(state.key).inserted { batch.dirty.append(state.key) }
    }

    /// States as one multi-row upsert per 200, then each record's materialized row.
    private func write(_ states: [RecordState]) throws {
        for start in stride(from: 0, to: states.count, by: 200) {
            let chunk = states[start..<min(start + 200, states.count)]
            var arguments = StatementArguments()
            for state in chunk { arguments += [state.key.type.rawValue, state.key.id, state.scope.rawValue, StoredState.encode(state)] }
            let statement = chunk.count == 200 || chunk.count == 1
                ? try db.cachedStatement(sql: Self.upsertStates(chunk.count)) : try db.makeStatement(sql: Self.upsertStates(chunk.count))
            try statement.execute(arguments: arguments)
        }
        for state in states { try Materializer.write(state, in: db) }
    }

    private static func upsertStates(_ count: Int) -> String {
        """
        INSERT INTO record_state (record_type, record_id, scope, state) VALUES \(Array(repeating: "(?, ?, ?, ?)", count: count).joined(separator: ", "))
        ON CONFLICT(record_type, record_id) DO UPDATE SET scope = excluded.scope, state = excluded.state
        """
    }

    /// Writes back the states the batch holds; later saves are written at once again.
    func finishBatch() throws {
        try writeBack()
        batch.open = false
        batch.states = [:]
        batch.entries = [:]
        batch.refusals = [:]
    }

    /// Writes the states saved since the last write-back (before SQL reads states, and at commit).
    func writeBack() throws {
        guard !batch.dirty.isEmpty else { return }
        let states = batch.dirty.compactMap { batch.states[$0] ?? nil }
        batch.dirty = []
        batch.dirtySet = []
        try write(states)
    }

    func prefetch(records: [RecordKey], changes: [ChangeID]) throws {
        batch.open = true
        let keys = Array(Set(records.filter { batch.states[$0] == nil }))
        for start in stride(from: 0, to: keys.count, by: 400) {
            let chunk = keys[start..<min(start + 400, keys.count)]
            var arguments = StatementArguments()
            for key in chunk {
                arguments += [key.type.rawValue, key.id]
                batch.states[key] = .some(nil)
            }
            let rows = try DatabaseValue.fetchAll(db, sql: Self.prefetchQueries(chunk.count).states, arguments: arguments)
            for value in rows {
                let state = try StoredState.decode(value)
                batch.states[state.key] = .some(state)
            }
        }
        let ids = Array(Set(changes.filter { batch.entries[$0] == nil }))
        for start in stride(from: 0, to: ids.count, by: 400) {
            let chunk = ids[start..<min(start + 400, ids.count)]
            var arguments = StatementArguments()
            for id in chunk {
                arguments += [id.origin.rawValue, Int64(id.seq)]
                batch.entries[id] = .some(nil)
                batch.refusals[id] = .some(nil)
            }
            let queries = Self.prefetchQueries(chunk.count)
            for row in try Row.fetchAll(db, sql: queries.log, arguments: arguments) {
                let entry = try entry(row)
                batch.entries[entry.change.id] = .some(entry)
            }
            for row in try Row.fetchAll(db, sql: queries.refusals, arguments: arguments) {
                let id = ChangeID(origin: try ReplicaID(row["origin"] as String), seq: UInt64(row["origin_seq"] as Int64))
                batch.refusals[id] = .some(try JSON.decode(Rejection.self, row["body"]))
            }
        }
    }

    /// The batch's reads for `count` keys: states by (type, id), log entries and refusals by (origin, seq).
    /// Each starts `WITH wanted(wanted_a, wanted_b) AS (VALUES (?, ?), …)` and joins the list first
    /// (`CROSS JOIN` fixes the order), so each pair is one search of the table's key. SQLite 3.40 answers
    /// `(a, b) IN (VALUES …)` with a scan of the whole table instead (`EXPLAIN QUERY PLAN`): every push
    /// batch cost a scan of the log and of the states, 25–30 ms a batch on a county of 25,000 parcels.
    static func prefetchQueries(_ count: Int) -> (states: String, log: String, refusals: String) {
        let wanted = "WITH wanted(wanted_a, wanted_b) AS (VALUES \(Array(repeating: "(?, ?)", count: count).joined(separator: ", ")))"
        return ("\(wanted) SELECT state FROM wanted CROSS JOIN record_state ON record_type = wanted_a AND record_id = wanted_b",
                "\(wanted) SELECT \(logColumns) FROM wanted CROSS JOIN change_log ON origin = wanted_a AND origin_seq = wanted_b",
                "\(wanted) SELECT origin, origin_seq, body FROM wanted CROSS JOIN received_rejection ON origin = wanted_a AND origin_seq = wanted_b")
    }

    func deleteRecordState(_ key: RecordKey) throws {
        try writeBack()
        if batch.open { batch.states[key] = .some(nil) }
        try db.execute(sql: "DELETE FROM record_state WHERE record_type = ? AND record_id = ?", arguments: [key.type.rawValue, key.id])
        try Materializer.delete(key, in: db)
    }

    func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] {
        try writeBack()
        let (clause, arguments) = Self.scopeFilter(jurisdiction, column: "scope")
        return try DatabaseValue.fetchAll(db, sql: "SELECT state FROM record_state WHERE \(clause) ORDER BY record_type, record_id", arguments: arguments)
            .map(StoredState.decode)
            .sorted { $0.key < $1.key }
    }

    func forEachRecordState(in jurisdiction: Jurisdiction, _ body: (RecordState) throws -> Void) throws {
        try writeBack()
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

    static let logColumns = "seq, delivery, rejection, amended_by, body"

    private func entry(_ row: Row) throws -> LogEntry {
        LogEntry(
            seq: UInt64(row["seq"] as Int64), change: try StoredJSON.change(row["body"]),
            delivery: Delivery(rawValue: row["delivery"]) ?? .received,
            rejection: try (row["rejection"] as String?).map { try JSON.decode(Rejection.self, $0) },
            amendedBy: (row["amended_by"] as String?).flatMap(ChangeID.init))
    }

    func logEntry(_ id: ChangeID) throws -> LogEntry? {
        if let known = batch.entries[id] { return known }
        return try Row.fetchOne(
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
        let seq = UInt64(db.lastInsertedRowID)
        if batch.open { batch.entries[change.id] = .some(LogEntry(seq: seq, change: change, delivery: delivery, rejection: rejection, amendedBy: nil)) }
        return seq
    }

    func updateLog(_ entry: LogEntry) throws {
        if batch.entries[entry.change.id] != nil { batch.entries[entry.change.id] = .some(entry) }
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
        if batch.entries[id] != nil { batch.entries[id] = .some(nil) }
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
        if let known = batch.refusals[id] { return known }
        return try String.fetchOne(db, sql: "SELECT body FROM received_rejection WHERE origin = ? AND origin_seq = ?", arguments: [id.origin.rawValue, Int64(id.seq)])
            .map { try JSON.decode(Rejection.self, $0) }
    }

    func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws {
        if batch.open { batch.refusals[id] = .some(rejection) }
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
