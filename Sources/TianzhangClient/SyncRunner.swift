import Foundation
import TianzhangDomain
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// The sync session of a replica on a SQLite store over HTTP: what nodes and patrol devices run.
public typealias SyncRunner = SyncSession

extension SyncSession {
    /// A session of the replica in `store` with the upstream `client` speaks to; attachment bytes come from
    /// the vault beside the store.
    public init(store: SQLiteReplicaStore, engine: SyncEngine, client: SyncClient, replica: ReplicaID,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.init(host: store, engine: engine, transport: client, replica: replica,
                  vault: store.path.flatMap { try? AttachmentVault(besideStore: $0) }, clock: clock)
    }
}
