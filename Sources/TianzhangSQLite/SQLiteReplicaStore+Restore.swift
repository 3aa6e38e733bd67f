import Foundation
import GRDB
import TianzhangSync

/// The gap `restore` leaves in a restored replica's own seqs (more than it writes between two backups).
public let restoreSeqGap: UInt64 = 1_000_000

extension SQLiteReplicaStore {
    /// Settings whose key starts with `prefix`, by key.
    public func settings(withPrefix prefix: String) throws -> [(key: String, value: String)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT key, value FROM setting WHERE substr(key, 1, ?) = ? ORDER BY key", arguments: [prefix.count, prefix])
                .map { (key: $0["key"], value: $0["value"]) }
        }
    }

    /// Replaces the store at `path` with a copy of the backup at `backup` (SQLite's online backup, so a
    /// backup taken from a live WAL store is copied whole), then gives it a new incarnation, so every
    /// replica that syncs with it learns it was restored (SPEC §7.2). Nothing may have the store open.
    /// - Returns: the restored store's new incarnation.
    /// - Throws: `StoreError` when either file cannot be opened; `ProtocolError` (`not_initialized`)
    ///   when the backup holds no replica.
    @discardableResult
    public static func restore(from backup: String, to path: String, engine: SyncEngine = SyncEngine()) throws -> String {
        guard FileManager.default.fileExists(atPath: backup) else {
            throw ProtocolError(code: "file_not_found", message: "No backup at \(backup).")
        }
        do {
            var readOnly = Configuration()
            readOnly.readonly = true
            let source = try DatabaseQueue(path: backup, configuration: readOnly)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            let target = try DatabaseQueue(path: path)
            try source.backup(to: target)
            try target.close()
            try source.close()
        } catch { throw StoreError.translate(error, path: path) }
        let store = try SQLiteReplicaStore(path: path)
        return try store.write { tx in
            // The copy's own seqs were handed out again after the backup was taken: leave a gap, so the
            // restored replica's next own change never reuses one (callers' hello closes it further).
            if let meta = try tx.meta() { _ = try engine.skipOwnSeqs(past: meta.originSeq + restoreSeqGap, in: tx) }
            return try engine.markRestored(in: tx)
        }
    }
}
