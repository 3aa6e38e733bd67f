import TianzhangSync

/// A SQLite replica is the host of its own sync session: settings, scope narrowing and patrol keys
/// are its own tables.
extension SQLiteReplicaStore: ReplicaHost {
    public var syncStore: any SyncStore { self }
}
