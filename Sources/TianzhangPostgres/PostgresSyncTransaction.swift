import Foundation
import PostgresNIO
import TianzhangDomain
import TianzhangSync

/// The engine's primitive operations on one PostgreSQL transaction: the SQLite store's statements
/// (`SQLiteSyncTransaction`), in PostgreSQL's dialect, on the store's schema.
struct PostgresSyncTransaction: SyncTransaction {
    let store: PostgresSyncStore
    var schema: String { store.schema }

    func rows(_ sql: String, _ binds: [PostgresSyncStore.Bind] = []) throws -> [PostgresRow] { try store.execute(sql, binds) }

    func texts(_ sql: String, _ binds: [PostgresSyncStore.Bind] = []) throws -> [String] {
        try rows(sql, binds).map { try $0.decode(String.self) }
    }

    func meta() throws -> ReplicaMeta? {
        try texts("SELECT body FROM \(schema).replica_meta WHERE id = 1").first.map { try StoredJSON.decode(ReplicaMeta.self, $0) }
    }

    func saveMeta(_ meta: ReplicaMeta) throws {
        try rows("INSERT INTO \(schema).replica_meta (id, body) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                 [.text(try StoredJSON.text(meta))])
    }

    func recordState(_ key: RecordKey) throws -> RecordState? {
        try texts("SELECT state FROM \(schema).record_state WHERE record_type = $1 AND record_id = $2", [.text(key.type.rawValue), .text(key.id)])
            .first.map { try StoredJSON.decode(RecordState.self, $0) }
    }

    func saveRecordState(_ state: RecordState) throws {
        try rows("""
            INSERT INTO \(schema).record_state (record_type, record_id, scope, state) VALUES ($1, $2, $3, $4)
            ON CONFLICT (record_type, record_id) DO UPDATE SET scope = excluded.scope, state = excluded.state
            """, [.text(state.key.type.rawValue), .text(state.key.id), .text(state.scope.rawValue), .text(try StoredJSON.text(state))])
    }

    func deleteRecordState(_ key: RecordKey) throws {
        try rows("DELETE FROM \(schema).record_state WHERE record_type = $1 AND record_id = $2", [.text(key.type.rawValue), .text(key.id)])
    }

    func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] {
        var binds: [PostgresSyncStore.Bind] = []
        let clause = Self.scopeFilter(jurisdiction, column: "scope", binds: &binds)
        return try texts("SELECT state FROM \(schema).record_state WHERE \(clause)", binds)
            .map { try StoredJSON.decode(RecordState.self, $0) }
            .sorted { $0.key < $1.key }
    }

    /// SQL for "the scope lies in this jurisdiction" (the scope column is `COLLATE "C"`, so ranges
    /// compare bytes as SQLite does), appending its parameters to `binds`.
    static func scopeFilter(_ jurisdiction: Jurisdiction, column: String, binds: inout [PostgresSyncStore.Bind]) -> String {
        func parameter(_ text: String) -> String {
            binds.append(.text(text))
            return "$\(binds.count)"
        }
        func range(_ code: DivisionCode) -> String {
            "(\(column) >= \(parameter(code.rawValue)) AND \(column) < \(parameter(code.rawValue + "\u{7F}")))"
        }
        func list(_ codes: Set<DivisionCode>) -> String { codes.sorted().map { parameter($0.rawValue) }.joined(separator: ",") }
        switch jurisdiction {
        case .county(let code), .township(let code):
            return range(code)
        case .villages(let codes):
            return codes.isEmpty ? "FALSE" : "\(column) IN (\(list(codes)))"
        case .adjustedTownship(let code, let added, let removed):
            var clause = range(code)
            if !added.isEmpty { clause = "(\(clause) OR \(column) IN (\(list(added))))" }
            if !removed.isEmpty { clause = "(\(clause) AND \(column) NOT IN (\(list(removed))))" }
            return clause
        }
    }

    private static let logColumns = "seq, delivery, rejection, amended_by, body"

    private func entries(_ sql: String, _ binds: [PostgresSyncStore.Bind]) throws -> [LogEntry] {
        try rows(sql, binds).map { row in
            let (seq, delivery, rejection, amendedBy, body) = try row.decode((Int64, String, String?, String?, String).self)
            return LogEntry(
                seq: UInt64(seq), change: try StoredJSON.decode(Change.self, body), delivery: Delivery(rawValue: delivery) ?? .received,
                rejection: try rejection.map { try StoredJSON.decode(Rejection.self, $0) }, amendedBy: amendedBy.flatMap(ChangeID.init))
        }
    }

    func logEntry(_ id: ChangeID) throws -> LogEntry? {
        try entries("SELECT \(Self.logColumns) FROM \(schema).change_log WHERE origin = $1 AND origin_seq = $2",
                    [.text(id.origin.rawValue), .int(Int64(id.seq))]).first
    }

    func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 {
        let inserted = try rows("""
            INSERT INTO \(schema).change_log (origin, origin_seq, record_type, record_id, scope, delivery, rejection, body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq
            """, [
                .text(change.origin.rawValue), .int(Int64(change.id.seq)), .text(change.recordTypeName), .text(change.recordID),
                .text(change.scope.rawValue), .text(delivery.rawValue), .text(try rejection.map(StoredJSON.text)), .text(try StoredJSON.text(change)),
            ])
        return UInt64(try inserted[0].decode(Int64.self))
    }

    func updateLog(_ entry: LogEntry) throws {
        try rows("UPDATE \(schema).change_log SET delivery = $1, rejection = $2, amended_by = $3 WHERE origin = $4 AND origin_seq = $5", [
            .text(entry.delivery.rawValue), .text(try entry.rejection.map(StoredJSON.text)), .text(entry.amendedBy?.description),
            .text(entry.change.origin.rawValue), .int(Int64(entry.change.id.seq)),
        ])
    }

    func foldableChanges(of key: RecordKey) throws -> [Change] {
        try texts("SELECT body FROM \(schema).change_log WHERE record_type = $1 AND record_id = $2 AND delivery != 'rejected' ORDER BY seq",
                  [.text(key.type.rawValue), .text(key.id)])
            .map { try StoredJSON.decode(Change.self, $0) }
    }

    func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool) {
        var binds: [PostgresSyncStore.Bind] = [.int(Int64(after))]
        let clause = Self.scopeFilter(jurisdiction, column: "scope", binds: &binds)
        binds.append(.text(excluding?.rawValue ?? ""))
        let origin = "$\(binds.count)"
        binds.append(.int(Int64(limit + 1)))
        let found = try entries("""
            SELECT \(Self.logColumns) FROM \(schema).change_log WHERE seq > $1 AND \(clause) AND origin != \(origin) ORDER BY seq LIMIT $\(binds.count)
            """, binds)
        let page = Array(found.prefix(limit))
        if found.count > limit { return (page, page.last!.seq, true) }
        // Every seq up to the newest one visible here is final: sequence numbers are handed out in
        // commit order (PostgresSyncStore), so none below it can still appear.
        let end = try rows("SELECT COALESCE(MAX(seq), 0) FROM \(schema).change_log").first.map { try $0.decode(Int64.self) } ?? 0
        return (page, max(after, UInt64(end)), false)
    }

    func logCount(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?) throws -> Int? {
        var binds: [PostgresSyncStore.Bind] = [.int(Int64(after))]
        let clause = Self.scopeFilter(jurisdiction, column: "scope", binds: &binds)
        binds.append(.text(excluding?.rawValue ?? ""))
        return try rows("SELECT COUNT(*) FROM \(schema).change_log WHERE seq > $1 AND \(clause) AND origin != $\(binds.count)", binds)
            .first.map { Int(try $0.decode(Int64.self)) }
    }

    func pendingEntries(limit: Int) throws -> [LogEntry] {
        try entries("SELECT \(Self.logColumns) FROM \(schema).change_log WHERE delivery = 'pending' ORDER BY seq LIMIT $1", [.int(Int64(limit))])
    }

    func entries(delivery: Delivery) throws -> [LogEntry] {
        try entries("SELECT \(Self.logColumns) FROM \(schema).change_log WHERE delivery = $1 ORDER BY seq", [.text(delivery.rawValue)])
    }

    func receivedRejection(_ id: ChangeID) throws -> Rejection? {
        try texts("SELECT body FROM \(schema).received_rejection WHERE origin = $1 AND origin_seq = $2", [.text(id.origin.rawValue), .int(Int64(id.seq))])
            .first.map { try StoredJSON.decode(Rejection.self, $0) }
    }

    func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws {
        try rows("""
            INSERT INTO \(schema).received_rejection (origin, origin_seq, body) VALUES ($1, $2, $3)
            ON CONFLICT (origin, origin_seq) DO UPDATE SET body = excluded.body
            """, [.text(id.origin.rawValue), .int(Int64(id.seq)), .text(try StoredJSON.text(rejection))])
    }

    func checkpoint(peer: String) throws -> UInt64 {
        UInt64(try rows("SELECT cursor FROM \(schema).peer_checkpoint WHERE peer = $1", [.text(peer)]).first.map { try $0.decode(Int64.self) } ?? 0)
    }

    func saveCheckpoint(peer: String, cursor: UInt64) throws {
        try rows("""
            INSERT INTO \(schema).peer_checkpoint (peer, cursor) VALUES ($1, $2) ON CONFLICT (peer) DO UPDATE SET cursor = excluded.cursor
            """, [.text(peer), .int(Int64(cursor))])
    }
}
