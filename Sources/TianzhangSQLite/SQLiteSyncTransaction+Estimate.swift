import GRDB
import TianzhangDomain
import TianzhangSync

extension SQLiteSyncTransaction {
    /// One indexed count of the log after `after` within the jurisdiction, without the puller's own
    /// changes and the refused ones (the same filter as a pull). Asked once per pull session, not per page.
    func logCount(after: UInt64, in jurisdiction: Jurisdiction, excluding: ReplicaID?) throws -> Int? {
        let (clause, scopeArguments) = Self.scopeFilter(jurisdiction, column: "scope")
        var arguments: StatementArguments = [Int64(after)]
        arguments += scopeArguments
        arguments += [excluding?.rawValue ?? ""]
        return try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM change_log WHERE seq > ? AND \(clause) AND origin != ? AND delivery != 'rejected'
            """, arguments: arguments) ?? 0
    }
}
