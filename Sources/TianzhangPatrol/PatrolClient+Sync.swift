import Foundation
import TianzhangClient
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

extension PatrolClient {
    static let upstreamURLSetting = "upstream.url"
    static let upstreamCredentialSetting = "upstream.credential"

    /// Enrols a new device: asks its upstream (the township node, or the county hub) who this credential
    /// belongs to and which villages it covers, and binds the store to that.
    /// - Throws: `SyncClientError` (the upstream refused the credential, or the link failed), `PatrolError`.
    public func enrol(upstream: URL, credential: String, replica: ReplicaID, person: String, options: SyncClient.Options = .init()) async throws {
        let hello = try await SyncClient(baseURL: upstream, credential: credential, options: options).hello(HelloRequest(replica: replica))
        try adopt(replica: replica, jurisdiction: hello.jurisdiction, person: person, credential: credential)
        try store.setSetting(Self.upstreamURLSetting, upstream.absoluteString)
        try store.setSetting(Self.upstreamCredentialSetting, credential)
    }

    /// Syncs with the upstream: photos first (each resuming from the byte the upstream confirmed), then
    /// the outbox, then the villages' map, tasks and receipts. Retries by itself; whatever a cut
    /// interrupts stays saved and resumes next time. The device's changes keep it as their origin
    /// through every hop.
    /// - Throws: `PatrolError` (`not_enrolled`), `SyncClientError` when the link stays down or the
    ///   credential is refused, `CredentialRevoked` when the county revoked this device.
    public func sync(options: SyncClient.Options = .init(), progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> SyncReport {
        guard let url = try store.setting(Self.upstreamURLSetting).flatMap(URL.init(string:)),
            let credential = try store.setting(Self.upstreamCredentialSetting)
        else { throw PatrolError(.notEnrolled, "This device has no upstream yet: enrol it with the credential the county issued.") }
        var runner = SyncRunner(store: store, engine: engine, client: SyncClient(baseURL: url, credential: credential, options: options),
                                replica: try meta().replica, clock: clock)
        runner.vault = vault
        return try await runner.syncInScope(progress: progress)
    }
}
