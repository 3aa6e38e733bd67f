import Foundation
import Hummingbird
import NIOCore
import TianzhangDomain
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

extension CredentialAuthority {
    /// The hub: the credentials it issued (its `credential` table).
    public static func hub(_ store: SQLiteReplicaStore) -> CredentialAuthority {
        CredentialAuthority(name: "the county hub", enrolment: { try store.enrolment(forSecret: $0) }, originJurisdiction: { try store.jurisdiction(of: $0) },
                            originKeys: { try store.originKeys(of: $0) })
    }

    /// A township node: the patrol credentials the county issued, as synced down in `enrolment`
    /// records; works with the hub offline. A revocation takes effect once the node has synced it.
    /// A node is pushed to only by its patrols, each with its own changes.
    public static func node(_ store: SQLiteReplicaStore, replica: ReplicaID) -> CredentialAuthority {
        CredentialAuthority(name: "node \(replica)", enrolment: { try store.patrolEnrolment(forSecret: $0) }, originJurisdiction: { try store.patrolJurisdiction(of: $0) },
                            originKeys: { $0.kind == .patrol ? try store.patrolKeys(of: $0) : .unknown })
    }
}

/// Protocol v1 over HTTP (`Protocol/SPEC.md` §3) on a replica's SQLite store, for any replica that
/// serves others: the county hub for its nodes and patrols, a township node for its patrols. What
/// differs between them is only who they accept (`CredentialAuthority`); the routes, limits, gzip and
/// JSON errors are these.
public struct ReplicaServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port (learn it from `run(onRunning:)`).
        public var port = 8080
        public var limits = ProtocolLimits()
        public var build = "tianzhang 0.1"
        public var serverName = "tianzhang"

        public init(host: String = "127.0.0.1", port: Int = 8080, limits: ProtocolLimits = ProtocolLimits(), build: String = "tianzhang 0.1", serverName: String = "tianzhang") {
            self.host = host
            self.port = port
            self.limits = limits
            self.build = build
            self.serverName = serverName
        }
    }

    /// The protocol's server side on this replica's store (SQLite for a node and by default the county
    /// hub; PostgreSQL for hub processes sharing one database): everything but HTTP.
    public let service: SyncService
    public let configuration: Configuration

    public var store: any SyncStore { service.store }
    public var engine: SyncEngine { service.engine }
    public var replica: ReplicaID { service.replica }
    public var authority: CredentialAuthority { service.authority }
    public var attachments: URL? { service.attachments }
    public var clock: @Sendable () -> Int64 { service.clock }

    /// - Parameter attachments: the vault's folder; by default the one beside a SQLite store's file.
    public init(store: any SyncStore, attachments: URL? = nil, engine: SyncEngine, replica: ReplicaID, authority: CredentialAuthority,
                configuration: Configuration = Configuration(), clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        var service = SyncService(
            store: store, attachments: attachments ?? ((store as? SQLiteReplicaStore)?.path).map { URL(fileURLWithPath: $0 + ".attachments") },
            engine: engine, replica: replica, authority: authority, limits: configuration.limits, clock: clock)
        if let sqlite = store as? SQLiteReplicaStore { service.onHello = { hello, now in try Self.recordSighting(hello, now: now, in: sqlite) } }
        self.service = service
        self.configuration = configuration
    }

    /// A township node serving its patrols on its own store.
    /// - Throws: `ProtocolError` (`not_initialized`) when the store has no replica, or is not a node's.
    public static func node(store: SQLiteReplicaStore, engine: SyncEngine, configuration: Configuration = Configuration()) throws -> ReplicaServer {
        guard let meta = try store.read({ try $0.meta() }), meta.replica.kind == .node else {
            throw ProtocolError(code: "not_initialized", message: "This store is not a township node's; run `tianzhang node init` first.")
        }
        var configuration = configuration
        configuration.serverName = "tianzhang-node"
        return ReplicaServer(store: store, engine: engine, replica: meta.replica, authority: .node(store, replica: meta.replica), configuration: configuration)
    }

    /// The routes: `GET /health`, `GET /version`, `POST /v1/hello`, `POST /v1/push`, `POST /v1/pull`.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        addRoutes(to: router)
        return router
    }

    /// Adds the protocol v1 routes to a router (a server may add more of its own).
    public func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in try respond(["status": "ok"], gzip: false) }
        router.get("/version") { _, _ in
            try respond(VersionBody(protocolVersions: ProtocolVersion.supported, build: configuration.build), gzip: false)
        }
        router.post("/v1/hello") { request, _ in
            try await handle(request) { (hello: HelloRequest, enrolment) in try self.hello(hello, enrolment) }
        }
        router.post("/v1/push") { request, _ in
            try await handle(request) { (push: PushRequest, enrolment) in try self.push(push, enrolment) }
        }
        router.post("/v1/pull") { request, _ in
            try await handle(request) { (pull: PullRequest, enrolment) in try self.pull(pull, enrolment) }
        }
        addAttachmentRoutes(to: router)
    }

    /// `hello`, push and pull, as `SyncService` answers them.
    public func hello(_ hello: HelloRequest, _ enrolment: Enrolment) throws -> HelloResponse { try service.hello(hello, enrolment) }
    public func push(_ push: PushRequest, _ enrolment: Enrolment) throws -> PushResponse { try service.push(push, enrolment) }
    public func pull(_ pull: PullRequest, _ enrolment: Enrolment) throws -> PullResponse { try service.pull(pull, enrolment) }

    struct VersionBody: Codable { var protocolVersions: [Int]; var build: String }

    /// Authenticates, reads (and inflates) the body, decodes it, runs `body`, and encodes the answer;
    /// every failure becomes a JSON error with its status.
    public func handle<In: Decodable, Out: Encodable>(_ request: Request, _ body: (In, Enrolment) async throws -> Out) async throws -> Response {
        let wantsGzip = request.headers[.acceptEncoding]?.contains("gzip") ?? false
        do {
            let enrolment = try authenticate(request)
            try Self.checkContentType(request.headers[.contentType])
            var buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: configuration.limits.batchBytesMax)
            } catch {
                throw WireError(413, "body_too_large", "The body is larger than \(configuration.limits.batchBytesMax) bytes.")
            }
            var data = Data(buffer.readableBytesView)
            buffer.clear()
            if request.headers[.contentEncoding]?.lowercased() == "gzip" {
                data = try Wire.gunzip(data, maxBytes: configuration.limits.batchBytesMax)
            }
            try Self.checkEncoding(data)
            let message = try Wire.decode(In.self, from: data)
            return try respond(try await body(message, enrolment), gzip: wantsGzip)
        } catch let error as WireError {
            return try respond(WireError.Envelope(error: error.body), status: error.status, gzip: false)
        } catch let error as ProtocolError {
            return try respond(WireError.Envelope(error: error), status: 400, gzip: false)
        } catch {
            return try respond(WireError.Envelope(error: ProtocolError(code: "unavailable", message: "The server could not complete the request; retry later.")), status: 503, gzip: false)
        }
    }

    /// Bodies are JSON in UTF-8 (SPEC §3): `Content-Type: application/json`, optionally with
    /// `charset=utf-8`; anything else (none, `text/plain`, a form, another charset) is refused.
    /// - Throws: `WireError` (415 `unsupported_media_type`).
    public static func checkContentType(_ value: String?) throws(WireError) {
        let parts = (value ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let parameters = parts.dropFirst().filter { !$0.isEmpty }
        guard parts.first == "application/json",
            parameters.allSatisfy({ $0.replacingOccurrences(of: " ", with: "") == "charset=utf-8" || $0.replacingOccurrences(of: " ", with: "") == "charset=\"utf-8\"" })
        else {
            throw WireError(415, "unsupported_media_type", "The body must be sent as Content-Type: application/json (UTF-8); got \(value.map { "\"\($0)\"" } ?? "none").", field: "Content-Type")
        }
    }

    /// Refuses a body that is not UTF-8 without a byte-order mark (the JSON parser would otherwise
    /// guess UTF-16 or UTF-32 from the first bytes).
    /// - Throws: `WireError` (400 `unsupported_encoding`).
    public static func checkEncoding(_ data: Data) throws(WireError) {
        let head = Array(data.prefix(4))
        if head.starts(with: [0xEF, 0xBB, 0xBF]) || head.starts(with: [0xFE, 0xFF]) || head.starts(with: [0xFF, 0xFE]) || head.contains(0) {
            throw WireError(400, "unsupported_encoding", "The body must be JSON in UTF-8 without a byte-order mark; it looks like UTF-16, UTF-32 or a BOM.")
        }
    }

    /// The credential of a request's bearer secret.
    /// - Throws: `WireError` (401) — `unknown_credential`, `revoked_credential`.
    public func authenticate(_ request: Request) throws -> Enrolment {
        let header = request.headers[.authorization]
        return try service.authenticate(secret: header.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil })
    }

    public func respond<T: Encodable>(_ value: T, status: Int = 200, gzip: Bool) throws -> Response {
        var data = try Wire.encoder.encode(value)
        var headers: HTTPFields = [.contentType: "application/json"]
        if gzip {
            data = try Wire.gzip(data)
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Runs the server until the task is cancelled or the process is signalled.
    /// - Parameter onRunning: called with the bound port once the server listens.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: configuration.serverName),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}
