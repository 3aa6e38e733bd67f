import Foundation
import GRDB
import Testing
@testable import TianzhangSQLite

/// The batch's reads must search each table's key, not scan the table: a scan costs a read of the whole
/// log and every state per push batch (25–30 ms on a county of 25,000 parcels), which grows with history.
@Suite("A push batch's reads search the tables' keys")
struct PrefetchPlanTests {
    @Test("states, log entries and refusals are found by key, for one pair and for a full chunk")
    func readsSearchKeys() throws {
        let store = try SQLiteReplicaStore(path: try temporaryPath())
        for count in [1, 3, 400] {
            let queries = SQLiteSyncTransaction.prefetchQueries(count)
            for (sql, table) in [(queries.states, "record_state"), (queries.log, "change_log"), (queries.refusals, "received_rejection")] {
                var arguments = StatementArguments()
                for n in 0..<count { arguments += ["origin-\(n)", n] }
                let plan = try store.writer.read { db in
                    try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)", arguments: arguments).map { $0["detail"] as String }
                }
                #expect(plan.contains { $0.hasPrefix("SEARCH \(table)") }, "\(table), \(count) pairs: \(plan)")
                #expect(!plan.contains { $0.hasPrefix("SCAN \(table)") }, "\(table), \(count) pairs: \(plan)")
            }
        }
    }
}
