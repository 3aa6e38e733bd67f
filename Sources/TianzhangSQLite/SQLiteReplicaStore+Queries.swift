import Foundation
import GRDB
import TianzhangDomain

/// Counts of every table, for a summary screen.
public struct StoreSummary: Codable, Hashable, Sendable {
    public var divisions: Int
    public var fieldChiefs: Int
    public var parcels: Int
    public var cases: Int
    public var openCases: Int
    public var timelineEntries: Int
    public var checkIns: Int
    public var tasks: Int
    public var attachments: Int
    public var changes: Int
    public var pendingChanges: Int
    public var rejectedChanges: Int
}

extension SQLiteReplicaStore {
    private func bodies<T: Decodable>(_ type: T.Type, _ sql: String, _ arguments: StatementArguments = []) throws -> [T] {
        try reading { db in try String.fetchAll(db, sql: sql, arguments: arguments).map { try JSON.decode(T.self, $0) } }
    }

    // MARK: queries a township needs

    public func parcel(_ id: String) throws -> Parcel? { try bodies(Parcel.self, "SELECT body FROM parcel WHERE id = ?", [id]).first }
    public func enforcementCase(_ id: String) throws -> EnforcementCase? { try bodies(EnforcementCase.self, "SELECT body FROM enforcement_case WHERE id = ?", [id]).first }
    public func checkIn(_ id: String) throws -> CheckIn? { try bodies(CheckIn.self, "SELECT body FROM check_in WHERE id = ?", [id]).first }
    public func task(_ id: String) throws -> VerificationTask? { try bodies(VerificationTask.self, "SELECT body FROM verification_task WHERE id = ?", [id]).first }
    public func attachment(_ sha256: String) throws -> AttachmentMetadata? { try bodies(AttachmentMetadata.self, "SELECT body FROM attachment WHERE sha256 = ?", [sha256]).first }
    public func timelineEntry(_ id: String) throws -> TimelineEntry? { try bodies(TimelineEntry.self, "SELECT body FROM timeline_entry WHERE id = ?", [id]).first }
    public func fieldChief(_ id: String) throws -> FieldChief? { try bodies(FieldChief.self, "SELECT body FROM field_chief WHERE id = ?", [id]).first }

    /// The parcels of one village ("one village, one map"), by id.
    public func parcels(inVillage village: DivisionCode) throws -> [Parcel] {
        try bodies(Parcel.self, "SELECT body FROM parcel WHERE village = ? ORDER BY id", [village.rawValue])
    }

    /// Cases not closed, optionally of one status and one township, oldest discovery first.
    public func openCases(status: CaseStatus? = nil, township: DivisionCode? = nil) throws -> [EnforcementCase] {
        var sql = "SELECT body FROM enforcement_case WHERE status != 'closed'"
        var arguments: StatementArguments = []
        if let status { sql += " AND status = ?"; arguments += [status.rawValue] }
        if let township { sql += " AND township = ?"; arguments += [township.rawValue] }
        return try bodies(EnforcementCase.self, sql + " ORDER BY discovered_at, id", arguments)
    }

    /// Open cases with a "three ones" deadline passed at `now` for their status, oldest discovery first.
    ///
    /// The same rule as `ThreeOnesDeadlines.overdue(at:status:)` (a deadline is passed when `now` is
    /// strictly after it), run in SQL on the indexed deadline columns. Which statuses each deadline
    /// applies to is read from the domain function itself (`deadlineStatuses`), so the two cannot drift.
    public func casesPastDeadline(at now: Timestamp) throws -> [EnforcementCase] {
        let (sql, arguments) = Self.pastDeadlineQuery(at: now)
        return try bodies(EnforcementCase.self, sql, arguments)
    }

    /// The SQL of `casesPastDeadline(at:)`: an OR of one indexed range per deadline.
    static func pastDeadlineQuery(at now: Timestamp) -> (sql: String, arguments: StatementArguments) {
        var terms: [String] = []
        var arguments: StatementArguments = []
        for (deadline, column) in [(ThreeOnesDeadlines.Deadline.report, "report_by"), (.onSite, "on_site_by"), (.restore, "restore_by")] {
            let statuses = deadlineStatuses[deadline] ?? []
            guard !statuses.isEmpty else { continue }
            terms.append("(status IN (\(statuses.map { _ in "?" }.joined(separator: ", "))) AND \(column) < ?)")
            arguments += StatementArguments(statuses.map(\.rawValue))
            arguments += [now.milliseconds]
        }
        let condition = terms.isEmpty ? "0" : terms.joined(separator: " OR ")
        return ("SELECT body FROM enforcement_case WHERE \(condition) ORDER BY discovered_at, id", arguments)
    }

    /// For each "three ones" deadline, the statuses in which a case can be overdue on it, asked of
    /// `ThreeOnesDeadlines.overdue(at:status:)` with every deadline long passed.
    static let deadlineStatuses: [ThreeOnesDeadlines.Deadline: [CaseStatus]] = {
        let deadlines = ThreeOnesDeadlines(discoveredAt: Timestamp(milliseconds: 0))
        let muchLater = Timestamp(milliseconds: 0).adding(hours: 24 * 365)
        var result: [ThreeOnesDeadlines.Deadline: [CaseStatus]] = [:]
        for status in CaseStatus.allCases {
            for deadline in deadlines.overdue(at: muchLater, status: status) { result[deadline, default: []].append(status) }
        }
        return result
    }()

    /// Check-ins of one local day (China time), optionally of one village, in time order.
    /// - Parameter day: days since the epoch of the local date (`Timestamp.days(year:month:day:)`).
    public func checkIns(onDay day: Int64, village: DivisionCode? = nil) throws -> [CheckIn] {
        if let village {
            return try bodies(CheckIn.self, "SELECT body FROM check_in WHERE day = ? AND village = ? ORDER BY at, id", [day, village.rawValue])
        }
        return try bodies(CheckIn.self, "SELECT body FROM check_in WHERE day = ? ORDER BY at, id", [day])
    }

    /// A case's timeline, in time order.
    public func timeline(ofCase id: String) throws -> [TimelineEntry] {
        try bodies(TimelineEntry.self, "SELECT body FROM timeline_entry WHERE case_id = ? ORDER BY at, id", [id])
    }

    /// Open verification tasks addressed to someone.
    public func openTasks(for assignee: String) throws -> [VerificationTask] {
        try bodies(VerificationTask.self, "SELECT body FROM verification_task WHERE assignee = ? AND status = 'open' ORDER BY id", [assignee])
    }

    /// Attachments of a case.
    public func attachments(ofCase id: String) throws -> [AttachmentMetadata] {
        try bodies(AttachmentMetadata.self, "SELECT body FROM attachment WHERE case_id = ? ORDER BY sha256", [id])
    }

    /// Every division, by code.
    public func divisions() throws -> [Division] {
        try divisionRows("SELECT code, name, synthetic FROM division ORDER BY code")
    }

    /// One division by its code.
    public func division(_ code: DivisionCode) throws -> Division? {
        try divisionRows("SELECT code, name, synthetic FROM division WHERE code = ?", [code.rawValue]).first
    }

    private func divisionRows(_ sql: String, _ arguments: StatementArguments = []) throws -> [Division] {
        try reading { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                do {
                    return Division(code: try DivisionCode(row["code"]), name: row["name"], synthetic: row["synthetic"])
                } catch {
                    throw StoreError(.corruptRecord, "Division row \(row["code"] as String? ?? "?") holds an invalid code: \(error)", cause: error)
                }
            }
        }
    }

    /// Counts of every table, for a summary screen.
    public func summary() throws -> StoreSummary {
        try reading { db in
            func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            return StoreSummary(
                divisions: try count("SELECT COUNT(*) FROM division"), fieldChiefs: try count("SELECT COUNT(*) FROM field_chief"),
                parcels: try count("SELECT COUNT(*) FROM parcel"), cases: try count("SELECT COUNT(*) FROM enforcement_case"),
                openCases: try count("SELECT COUNT(*) FROM enforcement_case WHERE status != 'closed'"),
                timelineEntries: try count("SELECT COUNT(*) FROM timeline_entry"), checkIns: try count("SELECT COUNT(*) FROM check_in"),
                tasks: try count("SELECT COUNT(*) FROM verification_task"), attachments: try count("SELECT COUNT(*) FROM attachment"),
                changes: try count("SELECT COUNT(*) FROM change_log"),
                pendingChanges: try count("SELECT COUNT(*) FROM change_log WHERE delivery = 'pending'"),
                rejectedChanges: try count("SELECT COUNT(*) FROM change_log WHERE delivery = 'rejected'"))
        }
    }
}
