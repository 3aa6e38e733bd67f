import Foundation
import TianzhangSync

/// A store that times each write transaction it runs (the time every other writer waits), for the
/// write-path benchmark and the tests that count a push's transactions. Not thread-safe: one caller.
public final class TimedStore: SyncStore, @unchecked Sendable {
    public let base: any SyncStore
    /// The duration of each write transaction so far, in milliseconds.
    public var writes: [Double] = []

    public init(_ base: any SyncStore) { self.base = base }

    public func write<T>(_ body: (any SyncTransaction) throws -> T) throws -> T {
        let start = DispatchTime.now()
        defer { writes.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6) }
        return try base.write(body)
    }

    public func read<T>(_ body: (any SyncTransaction) throws -> T) throws -> T { try base.read(body) }
}
