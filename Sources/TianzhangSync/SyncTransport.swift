import Foundation
import TianzhangDomain

/// A failure talking to the hub: the hub's own JSON error, the link, or a hub that cannot be trusted.
public enum SyncClientError: Error, CustomStringConvertible, Sendable {
    /// The hub answered with a protocol error (bad credential, malformed request …): retrying will not help.
    case refused(status: Int, ProtocolError)
    /// The link failed (refused, cut, timed out, stalled): retrying later may help.
    case transport(String)
    /// TLS: the hub's certificate cannot be trusted, or the pinned CA cannot be used (codes in
    /// Protocol/errors.md §Client: `tls_untrusted_certificate`, `tls_bad_pinned_ca`). Retrying cannot help:
    /// the certificate will not change by itself, and a hub that cannot be verified must not be talked to.
    case tls(code: String, message: String)

    public var description: String {
        switch self {
        case .refused(let status, let error): "the hub refused the request (HTTP \(status)): \(error)"
        case .transport(let message): "the link failed: \(message)"
        case .tls(let code, let message): "\(message) [\(code)]"
        }
    }

    public var isRetryable: Bool {
        switch self {
        case .refused(let status, _): status >= 500
        case .transport: true
        case .tls: false
        }
    }
}

/// A whole-request failure with its HTTP status: `{"error": {"code", "message", "field"}}`
/// (codes in Protocol/errors.md).
public struct WireError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var body: ProtocolError

    public init(_ status: Int, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        body = ProtocolError(code: code, message: message, field: field)
    }

    public var description: String { "HTTP \(status) \(body)" }

    /// The JSON body of a whole-request failure: `{"error": {…}}`.
    public struct Envelope: Codable, Sendable {
        public var error: ProtocolError
        public init(error: ProtocolError) { self.error = error }
    }
}

/// The two attachment calls of protocol v1 (§10), as a client makes them.
public protocol AttachmentTransport: Sendable {
    /// - Parameter record: the attachment record that refers to the bytes: the receiver answers `complete` for
    ///   bytes it holds only when the caller may see such a record (or sent the bytes whole itself).
    func attachmentStatus(_ sha256: String, record: String?) async throws(SyncClientError) -> AttachmentStatus
    func uploadAttachmentChunk(_ sha256: String, offset: Int64, size: Int64, bytes: Data, record: String?) async throws(SyncClientError) -> AttachmentStatus
}

/// What a replica's sync session talks to: its upstream, over HTTP (`SyncClient`) or, in the
/// simulation and the test fixtures, in memory. Every call either answers or throws `SyncClientError`.
public protocol SyncTransport: AttachmentTransport {
    /// The credential the calls are made with (it carries the county's public key, SPEC §2.7).
    var credential: String { get }
    func hello(_ request: HelloRequest) async throws(SyncClientError) -> HelloResponse
    func push(_ request: PushRequest) async throws(SyncClientError) -> PushResponse
    func pull(_ request: PullRequest) async throws(SyncClientError) -> PullResponse
}

/// Where a replica keeps the bytes of its attachments, as its sync session reads them for upload.
public protocol AttachmentSource: Sendable {
    /// Whether the whole, verified bytes of `sha256` are here.
    func has(_ sha256: String) -> Bool
    /// How many bytes of `sha256` are here (all of them once `has` is true).
    func size(of sha256: String) throws -> Int64
    /// Up to `limit` bytes of `sha256` from byte `offset`.
    func chunk(of sha256: String, from offset: Int64, limit: Int) throws -> Data
}

/// What a sync session needs of its replica beyond the sync store: its settings (the upstream it last
/// synced with, what it learnt at `hello`), how it removes what it may no longer hold, and the keys of
/// the patrols it serves.
public protocol ReplicaHost: Sendable {
    var syncStore: any SyncStore { get }
    func setting(_ key: String) throws -> String?
    func setSetting(_ key: String, _ value: String) throws
    /// Removes what lies outside `jurisdiction` (everything but the outbox when `nil`), takes it as the
    /// replica's jurisdiction and resets the pull checkpoints.
    func narrow(to jurisdiction: Jurisdiction?, engine: SyncEngine) throws -> ScopeNarrowing
    /// The keys the county enrolled for one of the patrols this replica serves (`.unknown` if none).
    func patrolKeys(of replica: ReplicaID) throws -> OriginKeys
}

/// What a replica removed when its jurisdiction shrank or its credential was revoked.
public struct ScopeNarrowing: Hashable, Sendable, Codable {
    /// Records whose merged state was removed (or rebuilt from this replica's own kept changes).
    public var records = 0
    /// Log entries removed: changes received from others, and own changes the county already holds.
    public var changes = 0
    /// Outbox changes kept although they lie outside: this replica's own undelivered work (pending,
    /// forwarded, rejected) and, at a node, relayed changes still waiting to go upstream.
    public var kept = 0
    public init() {}
}
