import Foundation
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

/// The upstream refused this replica's credential as revoked; the replica has removed what it may no
/// longer hold and kept its own undelivered changes (`SQLiteReplicaStore.narrow(to:engine:)`).
public struct CredentialRevoked: Error, CustomStringConvertible, Sendable {
    /// The upstream's refusal (`revoked_credential`).
    public var refusal: ProtocolError
    public var removed: ScopeNarrowing

    public var code: String { refusal.code }

    public var description: String {
        "\(refusal.code): \(refusal.message) Removed \(removed.records) records and \(removed.changes) changes this replica may no longer hold; "
            + "kept \(removed.kept) changes not yet at the county (`tianzhang node outbox` lists them for export)."
    }
}

extension SyncRunner {
    /// The setting that remembers which server this replica last synced with.
    static let upstreamSetting = "upstream.server"

    /// A sync that first asks `hello` what this replica may hold, then pushes and pulls (`sync`):
    /// - when the jurisdiction the upstream answers differs from the one held (a village moved, the
    ///   credential was re-bound), the replica removes records outside it, takes it, and pulls from the
    ///   start (changes already held are skipped), so it also receives what it gained;
    /// - when the upstream is another server than last time (a patrol now served by another node), the
    ///   pull starts from the beginning of that server's log;
    /// - when the upstream refuses the credential as revoked (at `hello`, push or pull), the replica
    ///   removes everything it received and keeps only its own undelivered changes.
    /// - Throws: `CredentialRevoked` (code `revoked_credential`); `SyncClientError` when the upstream
    ///   refuses otherwise or the link stays down after the retries.
    public func syncInScope(progress: @Sendable (String) -> Void = { _ in }) async throws -> SyncReport {
        do {
            let hello = try await helloWithRetry(progress: progress)
            var changed: Jurisdiction?
            var removed: ScopeNarrowing?
            if let meta = try store.read({ try $0.meta() }), meta.jurisdiction != hello.jurisdiction {
                changed = hello.jurisdiction
                removed = try store.narrow(to: hello.jurisdiction, engine: engine)
                progress("jurisdiction is now \(Wire.describe(hello.jurisdiction)): removed \(removed!.records) records outside it; pulling from the start")
            }
            if let last = try store.setting(Self.upstreamSetting), last != hello.server.rawValue {
                try store.write { tx in try tx.saveCheckpoint(peer: "hub", cursor: 0) }
                progress("now served by \(hello.server) (was \(last)): pulling its log from the start")
            }
            try store.setSetting(Self.upstreamSetting, hello.server.rawValue)
            var report = try await sync(progress: progress)
            report.jurisdictionChanged = changed
            report.removed = removed
            return report
        } catch let error as SyncClientError {
            guard case .refused(_, let refusal) = error, refusal.code == "revoked_credential" else { throw error }
            let removed = try store.narrow(to: nil, engine: engine)
            throw CredentialRevoked(refusal: refusal, removed: removed)
        }
    }

    func helloWithRetry(progress: (String) -> Void) async throws -> HelloResponse {
        var delay = backoffFirst
        var failures = 0
        while true {
            let answer: Result<HelloResponse, SyncClientError>
            do { answer = .success(try await client.hello(HelloRequest(replica: replica))) } catch { answer = .failure(error) }
            switch answer {
            case .success(let hello): return hello
            case .failure(let error):
                guard error.isRetryable, failures < retriesMax else { throw error }
                failures += 1
                progress("link failed (\(error)); retrying hello in \(delay)")
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }
}
