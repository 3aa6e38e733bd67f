import Foundation
import PostgresNIO
import TianzhangDomain
import TianzhangSync

/// The engine's primitive operations on one PostgreSQL transaction: the SQLite store's statements
/// (`SQLiteSyncTransaction`), in PostgreSQL's dialect, on the store's schema.
///
/// Every statement is a round trip, so a write transaction that holds the log-order lock (`buffered`)
/// keeps what it writes in memory and sends it in a few set-wise statements (arrays through `UNNEST`)
/// when it commits, or before any read that needs the database to see it. It reads through the same
/// buffers, so the engine sees its own writes. `prefetch` loads a push batch's record states, log
/// entries and refusals in three statements. Sequence numbers are allocated here: under the lock no
/// other writer takes one, and the sequence is moved past the last one at flush.
final class PostgresSyncTransaction: SyncTransaction {
    let store: PostgresSyncStore
    let buffered: Bool
    var schema: String { store.schema }

    private var metaCache: ReplicaMeta??
    private var metaDirty = false
    /// Known record states (`.some(nil)`: known to be absent).
    private var states: [RecordKey: RecordState?] = [:]
    private var dirtyStates: Set<RecordKey> = []
    private var deletedStates: Set<RecordKey> = []
    /// Known log entries (`.some(nil)`: known to be absent).
    private var entriesByID: [ChangeID: LogEntry?] = [:]
    private var pendingLog: [LogEntry] = []
    private var pendingIndex: [ChangeID: Int] = [:]
    private var refusals: [ChangeID: Rejection?] = [:]
    private var nextSeq: Int64?

    init(store: PostgresSyncStore, buffered: Bool) {
        self.store = store
        self.buffered = buffered
    }

    func rows(_ sql: String, _ binds: [PostgresSyncStore.Bind] = []) throws -> [PostgresRow] { try store.execute(sql, binds) }

    func texts(_ sql: String, _ binds: [PostgresSyncStore.Bind] = []) throws -> [String] {
        try rows(sql, binds).map { try $0.decode(String.self) }
    }

    // MARK: Buffers

    /// Sends every buffered write (idempotent; called before commit and before reads that need it).
    func flush() throws {
        if metaDirty, let meta = metaCache ?? nil {
            try rows("INSERT INTO \(schema).replica_meta (id, body) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                     [.text(try StoredJSON.text(meta))])
            metaDirty = false
        }
        if !pendingLog.isEmpty {
            let log = pendingLog
            try rows("""
                INSERT INTO \(schema).change_log (seq, origin, origin_seq, record_type, record_id, scope, delivery, rejection, amended_by, body)
                SELECT seq, origin, origin_seq, record_type, record_id, scope, delivery, NULLIF(rejection, ''), NULLIF(amended_by, ''), body
                FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
                    AS t(seq, origin, origin_seq, record_type, record_id, scope, delivery, rejection, amended_by, body)
                """, [
                    .ints(log.map { Int64($0.seq) }), .texts(log.map(\.change.origin.rawValue)), .ints(log.map { Int64($0.change.id.seq) }),
                    .texts(log.map(\.change.recordTypeName)), .texts(log.map(\.change.recordID)), .texts(log.map(\.change.scope.rawValue)),
                    .texts(log.map(\.delivery.rawValue)), .texts(try log.map { try $0.rejection.map(StoredJSON.text) ?? "" }),
                    .texts(log.map { $0.amendedBy?.description ?? "" }), .texts(try log.map { try StoredJSON.text($0.change) }),
                ])
            try rows("SELECT setval('\(schema).change_log_seq', $1)", [.int(Int64(log.last!.seq))])
            pendingLog = []
            pendingIndex = [:]
        }
        if !dirtyStates.isEmpty {
            let saved = dirtyStates.sorted().compactMap { states[$0] ?? nil }
            try rows("""
                INSERT INTO \(schema).record_state (record_type, record_id, scope, state)
                SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                ON CONFLICT (record_type, record_id) DO UPDATE SET scope = excluded.scope, state = excluded.state
                """, [.texts(saved.map(\.key.type.rawValue)), .texts(saved.map(\.key.id)), .texts(saved.map(\.scope.rawValue)),
                      .texts(saved.map { StateText.encode($0) })])
            // Written: the database answers from now on (keeps a long transaction, such as a copy, small).
            for key in dirtyStates { states[key] = nil }
            dirtyStates = []
        }
        if !deletedStates.isEmpty {
            let gone = deletedStates.sorted()
            try rows("""
                DELETE FROM \(schema).record_state WHERE (record_type, record_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
                """, [.texts(gone.map(\.type.rawValue)), .texts(gone.map(\.id))])
            deletedStates = []
        }
    }

    func prefetch(records: [RecordKey], changes: [ChangeID]) throws {
        let keys = Array(Set(records.filter { states[$0] == nil }))
        if !keys.isEmpty {
            for key in keys { states[key] = .some(nil) }
            for row in try rows("""
                SELECT state FROM \(schema).record_state WHERE (record_type, record_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
                """, [.texts(keys.map(\.type.rawValue)), .texts(keys.map(\.id))]) {
                let state = try StateText.decode(try row.decode(String.self))
                states[state.key] = .some(state)
            }
        }
        let ids = Array(Set(changes.filter { entriesByID[$0] == nil }))
        if !ids.isEmpty {
            for id in ids { entriesByID[id] = .some(nil) }
            for entry in try entries("""
                SELECT \(Self.logColumns) FROM \(schema).change_log WHERE (origin, origin_seq) IN (SELECT * FROM UNNEST($1::text[], $2::bigint[]))
                """, [.texts(ids.map(\.origin.rawValue)), .ints(ids.map { Int64($0.seq) })]) {
                entriesByID[entry.change.id] = .some(entry)
            }
            let unknown = ids.filter { refusals[$0] == nil }
            for id in unknown { refusals[id] = .some(nil) }
            for row in try rows("""
                SELECT origin, origin_seq, body FROM \(schema).received_rejection
                WHERE (origin, origin_seq) IN (SELECT * FROM UNNEST($1::text[], $2::bigint[]))
                """, [.texts(unknown.map(\.origin.rawValue)), .ints(unknown.map { Int64($0.seq) })]) {
                let (origin, seq, body) = try row.decode((String, Int64, String).self)
                refusals[ChangeID(origin: try ReplicaID(origin), seq: UInt64(seq))] = .some(try StoredJSON.decode(Rejection.self, body))
            }
        }
    }

    // MARK: SyncTransaction

    func meta() throws -> ReplicaMeta? {
        if let metaCache { return metaCache }
        let meta = try texts("SELECT body FROM \(schema).replica_meta WHERE id = 1").first.map { try StoredJSON.decode(ReplicaMeta.self, $0) }
        metaCache = .some(meta)
        return meta
    }

    func saveMeta(_ meta: ReplicaMeta) throws {
        metaCache = .some(meta)
        metaDirty = true
        if !buffered { try flush() }
    }

    func recordState(_ key: RecordKey) throws -> RecordState? {
        if let known = states[key] { return known }
        let state = try texts("SELECT state FROM \(schema).record_state WHERE record_type = $1 AND record_id = $2", [.text(key.type.rawValue), .text(key.id)])
            .first.map { try StateText.decode($0) }
        states[key] = .some(state)
        return state
    }

    func saveRecordState(_ state: RecordState) throws {
        states[state.key] = .some(state)
        dirtyStates.insert(state.key)
        deletedStates.remove(state.key)
        if !buffered { try flush() }
    }

    func deleteRecordState(_ key: RecordKey) throws {
        states[key] = .some(nil)
        dirtyStates.remove(key)
        deletedStates.insert(key)
        if !buffered { try flush() }
    }

    func recordStates(in jurisdiction: Jurisdiction) throws -> [RecordState] {
        try flush()
        var binds: [PostgresSyncStore.Bind] = []
        let clause = Self.scopeFilter(jurisdiction, column: "scope", binds: &binds)
        return try texts("SELECT state FROM \(schema).record_state WHERE \(clause)", binds)
            .map { try StateText.decode($0) }
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

    static let logColumns = "seq, delivery, rejection, amended_by, body"

    private func entries(_ sql: String, _ binds: [PostgresSyncStore.Bind]) throws -> [LogEntry] {
        try rows(sql, binds).map { row in
            let (seq, delivery, rejection, amendedBy, body) = try row.decode((Int64, String, String?, String?, String).self)
            return LogEntry(
                seq: UInt64(seq), change: try StoredJSON.change(body), delivery: Delivery(rawValue: delivery) ?? .received,
                rejection: try rejection.map { try StoredJSON.decode(Rejection.self, $0) }, amendedBy: amendedBy.flatMap(ChangeID.init))
        }
    }

    func logEntry(_ id: ChangeID) throws -> LogEntry? {
        if let known = entriesByID[id] { return known }
        let entry = try entries("SELECT \(Self.logColumns) FROM \(schema).change_log WHERE origin = $1 AND origin_seq = $2",
                                [.text(id.origin.rawValue), .int(Int64(id.seq))]).first
        entriesByID[id] = .some(entry)
        return entry
    }

    func appendLog(_ change: Change, delivery: Delivery, rejection: Rejection?) throws -> UInt64 {
        guard buffered else {
            let inserted = try rows("""
                INSERT INTO \(schema).change_log (origin, origin_seq, record_type, record_id, scope, delivery, rejection, body)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq
                """, [
                    .text(change.origin.rawValue), .int(Int64(change.id.seq)), .text(change.recordTypeName), .text(change.recordID),
                    .text(change.scope.rawValue), .text(delivery.rawValue), .text(try rejection.map(StoredJSON.text)), .text(try StoredJSON.text(change)),
                ])
            let seq = UInt64(try inserted[0].decode(Int64.self))
            entriesByID[change.id] = .some(LogEntry(seq: seq, change: change, delivery: delivery, rejection: rejection))
            return seq
        }
        if nextSeq == nil { nextSeq = try rows("SELECT nextval('\(schema).change_log_seq')").first.map { try $0.decode(Int64.self) } }
        let seq = nextSeq!
        nextSeq = seq + 1
        let entry = LogEntry(seq: UInt64(seq), change: change, delivery: delivery, rejection: rejection)
        pendingIndex[change.id] = pendingLog.count
        pendingLog.append(entry)
        entriesByID[change.id] = .some(entry)
        return UInt64(seq)
    }

    /// Queues an entry with its own sequence number (a copy keeps the source's numbering); written set-wise at the next flush.
    func appendCopied(_ entry: LogEntry) {
        pendingIndex[entry.change.id] = pendingLog.count
        pendingLog.append(entry)
    }

    func updateLog(_ entry: LogEntry) throws {
        entriesByID[entry.change.id] = .some(entry)
        if let index = pendingIndex[entry.change.id] {
            pendingLog[index] = entry
            return
        }
        try rows("UPDATE \(schema).change_log SET delivery = $1, rejection = $2, amended_by = $3 WHERE origin = $4 AND origin_seq = $5", [
            .text(entry.delivery.rawValue), .text(try entry.rejection.map(StoredJSON.text)), .text(entry.amendedBy?.description),
            .text(entry.change.origin.rawValue), .int(Int64(entry.change.id.seq)),
        ])
    }

    func foldableChanges(of key: RecordKey) throws -> [Change] {
        try flush()
        return try texts("SELECT body FROM \(schema).change_log WHERE record_type = $1 AND record_id = $2 AND delivery != 'rejected' ORDER BY seq",
                         [.text(key.type.rawValue), .text(key.id)])
            .map { try StoredJSON.change($0) }
    }

    func logPage(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?, limit: Int) throws -> (entries: [LogEntry], scannedThrough: UInt64, more: Bool) {
        try flush()
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
        try flush()
        var binds: [PostgresSyncStore.Bind] = [.int(Int64(after))]
        let clause = Self.scopeFilter(jurisdiction, column: "scope", binds: &binds)
        binds.append(.text(excluding?.rawValue ?? ""))
        return try rows("SELECT COUNT(*) FROM \(schema).change_log WHERE seq > $1 AND \(clause) AND origin != $\(binds.count)", binds)
            .first.map { Int(try $0.decode(Int64.self)) }
    }

    func pendingEntries(limit: Int) throws -> [LogEntry] {
        try flush()
        return try entries("SELECT \(Self.logColumns) FROM \(schema).change_log WHERE delivery = 'pending' ORDER BY seq LIMIT $1", [.int(Int64(limit))])
    }

    func entries(delivery: Delivery) throws -> [LogEntry] {
        try flush()
        return try entries("SELECT \(Self.logColumns) FROM \(schema).change_log WHERE delivery = $1 ORDER BY seq", [.text(delivery.rawValue)])
    }

    func receivedRejection(_ id: ChangeID) throws -> Rejection? {
        if let known = refusals[id] { return known }
        let rejection = try texts("SELECT body FROM \(schema).received_rejection WHERE origin = $1 AND origin_seq = $2", [.text(id.origin.rawValue), .int(Int64(id.seq))])
            .first.map { try StoredJSON.decode(Rejection.self, $0) }
        refusals[id] = .some(rejection)
        return rejection
    }

    func saveReceivedRejection(_ id: ChangeID, _ rejection: Rejection) throws {
        refusals[id] = .some(rejection)
        try rows("""
            INSERT INTO \(schema).received_rejection (origin, origin_seq, body) VALUES ($1, $2, $3)
            ON CONFLICT (origin, origin_seq) DO UPDATE SET body = excluded.body
            """, [.text(id.origin.rawValue), .int(Int64(id.seq)), .text(try StoredJSON.text(rejection))])
    }

    func highestSeq(of origin: ReplicaID) throws -> UInt64? {
        try flush()
        let row = try rows("""
            SELECT GREATEST((SELECT COALESCE(MAX(origin_seq), 0) FROM \(schema).change_log WHERE origin = $1),
                            (SELECT COALESCE(MAX(origin_seq), 0) FROM \(schema).received_rejection WHERE origin = $1))
            """, [.text(origin.rawValue)]).first
        return UInt64(try row.map { try $0.decode(Int64.self) } ?? 0)
    }

    func logHead() throws -> UInt64? {
        try flush()
        return UInt64(try rows("SELECT COALESCE(MAX(seq), 0) FROM \(schema).change_log").first.map { try $0.decode(Int64.self) } ?? 0)
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
