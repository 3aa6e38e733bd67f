import GRDB
import TianzhangSync

extension SQLiteReplicaStore {
    /// How many log entries are in one delivery state, counted in SQL (a bootstrap's progress without
    /// decoding every change).
    public func changeCount(delivery: Delivery) throws -> Int {
        try reading { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM change_log WHERE delivery = ?", arguments: [delivery.rawValue]) ?? 0 }
    }
}
