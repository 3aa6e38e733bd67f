import Foundation
import TianzhangSQLite
import TianzhangSync

/// What a replica's `hello` said of its clock and store, as this server last saw it (SPEC §7.1).
public struct ReplicaSighting: Hashable, Sendable, Codable {
    public var replica: String
    /// The replica's wall clock minus this server's, in ms (positive: the replica's clock is ahead).
    public var skewMilliseconds: Int64
    /// This server's time at that `hello` (ms).
    public var at: Int64
    /// The replica's store incarnation (changes when it was restored).
    public var incarnation: String?
}

extension ReplicaServer {
    /// The setting key prefix under which a SQLite server keeps its last sighting of each replica.
    public static let sightingSettingPrefix = "replica.seen:"

    /// Keeps the caller's clock skew and incarnation as this server's last sighting of it, and says so
    /// on standard error when its clock is off or its store was restored (SPEC §7.1, §7.2).
    static func recordSighting(_ hello: HelloRequest, now: Int64, in sqlite: SQLiteReplicaStore) throws {
        guard let localTime = hello.localTime else { return }
        let sighting = ReplicaSighting(replica: hello.replica.rawValue, skewMilliseconds: localTime - now, at: now, incarnation: hello.incarnation)
        let key = Self.sightingSettingPrefix + hello.replica.rawValue
        let previous = try sqlite.setting(key).flatMap { try? JSONDecoder().decode(ReplicaSighting.self, from: Data($0.utf8)) }
        try sqlite.setSetting(key, String(decoding: try JSONEncoder().encode(sighting), as: UTF8.self))
        if abs(sighting.skewMilliseconds) >= SyncEngine.stampDriftMilliseconds, abs((previous?.skewMilliseconds ?? 0) - sighting.skewMilliseconds) >= 60_000 {
            FileHandle.standardError.write(Data("clock: \(hello.replica)'s clock is \(ReplicaSighting.describe(sighting.skewMilliseconds)) (its changes are stamped in county time once it has synced)\n".utf8))
        }
        if let before = previous?.incarnation, let now = hello.incarnation, before != now {
            FileHandle.standardError.write(Data("store: \(hello.replica) has a new store incarnation (restored from a backup)\n".utf8))
        }
    }
}

extension ReplicaSighting {
    /// "6 h 0 min ahead", "3 min behind", "in step".
    public static func describe(_ skew: Int64) -> String {
        let minutes = (abs(skew) + 30_000) / 60_000
        if minutes == 0 { return "in step" }
        let text = minutes >= 60 ? "\(minutes / 60) h \(minutes % 60) min" : "\(minutes) min"
        return text + (skew > 0 ? " ahead" : " behind")
    }
}

extension SQLiteReplicaStore {
    /// Every replica's last sighting at this server's `hello`, by replica id.
    public func sightings() throws -> [ReplicaSighting] {
        try settings(withPrefix: ReplicaServer.sightingSettingPrefix).compactMap { try? JSONDecoder().decode(ReplicaSighting.self, from: Data($0.value.utf8)) }
            .sorted { $0.replica < $1.replica }
    }
}
