import Foundation
import Hummingbird
import NIOCore
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

/// The county hub's HTTP face: protocol v1 (`Protocol/SPEC.md` §3) over Hummingbird, on the hub's
/// SQLite store. Every sync request is authenticated with a bearer credential the hub issued; bodies
/// may be gzip in both directions; whole-request failures are JSON with stable codes.
public struct HubServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port (learn it from `onRunning`).
        public var port = 8080
        public var limits = ProtocolLimits()
        public var build = "tianzhang 0.1"
        /// Serve https with this identity (HubServer+TLS.swift); nil: plain http.
        public var tls: TLSFiles? = nil

        public init(host: String = "127.0.0.1", port: Int = 8080) {
            self.host = host
            self.port = port
        }
    }

    public let store: SQLiteReplicaStore
    public let engine: SyncEngine
    public let hub: ReplicaID
    public let county: DivisionCode
    public let configuration: Configuration
    /// The wall clock in milliseconds (injected so tests can move it).
    public let clock: @Sendable () -> Int64

    public init(store: SQLiteReplicaStore, engine: SyncEngine, county: DivisionCode, configuration: Configuration = Configuration(),
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) throws {
        self.store = store
        self.engine = engine
        self.county = county
        hub = ReplicaID(kind: .hub, name: county.rawValue)
        self.configuration = configuration
        self.clock = clock
        try store.write { tx in _ = try engine.open(replica: hub, jurisdiction: .county(county), in: tx) }
    }

    /// The routes: `GET /health`, `GET /version`, `POST /v1/hello`, `POST /v1/push`, `POST /v1/pull`.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in try respond(["status": "ok"], gzip: false) }
        router.get("/version") { _, _ in
            try respond(VersionBody(protocolVersions: ProtocolVersion.supported, build: configuration.build), gzip: false)
        }
        router.post("/v1/hello") { request, _ in
            try await handle(request) { (hello: HelloRequest, enrolment) in
                guard hello.replica == enrolment.replica else { throw mismatch(hello.replica, enrolment) }
                guard let version = hello.protocolVersions.filter(ProtocolVersion.supported.contains).max() else {
                    throw WireError(400, "unsupported_protocol_version", "None of versions \(hello.protocolVersions) is spoken here; this hub speaks \(ProtocolVersion.supported).", field: "protocolVersions")
                }
                let known = Set(RecordType.allCases.map(\.rawValue))
                return HelloResponse(
                    protocolVersion: version, server: hub, serverTime: clock(), limits: configuration.limits,
                    recordTypes: hello.recordTypes.filter(known.contains).sorted(), jurisdiction: enrolment.jurisdiction)
            }
        }
        router.post("/v1/push") { request, _ in
            try await handle(request) { (push: PushRequest, enrolment) in
                try checkVersion(push.protocolVersion)
                guard push.sender == enrolment.replica else { throw mismatch(push.sender, enrolment) }
                guard push.changes.count <= configuration.limits.batchChangesMax else {
                    throw WireError(400, "batch_too_large", "\(push.changes.count) changes; at most \(configuration.limits.batchChangesMax) a push.", field: "changes")
                }
                // The county's view of every origin in the batch, read before the write transaction.
                var origins: [ReplicaID: Jurisdiction] = [:]
                for origin in Set(push.changes.map(\.origin)) { origins[origin] = try store.jurisdiction(of: origin) }
                let peer = Peer(replica: enrolment.replica, jurisdiction: enrolment.jurisdiction)
                let now = clock()
                return try store.write { tx in try engine.receive(push, from: peer, originJurisdiction: { origins[$0] }, physicalNow: now, in: tx) }
            }
        }
        router.post("/v1/pull") { request, _ in
            try await handle(request) { (pull: PullRequest, enrolment) in
                try checkVersion(pull.protocolVersion)
                guard pull.puller == enrolment.replica else { throw mismatch(pull.puller, enrolment) }
                let peer = Peer(replica: enrolment.replica, jurisdiction: enrolment.jurisdiction)
                return try store.read { tx in try engine.servePull(pull, for: peer, in: tx) }
            }
        }
        return router
    }

    struct VersionBody: Codable { var protocolVersions: [Int]; var build: String }

    func checkVersion(_ version: Int) throws(WireError) {
        guard ProtocolVersion.supported.contains(version) else {
            let error = ProtocolError.unsupportedVersion(version)
            throw WireError(400, error.code, error.message, field: error.field)
        }
    }

    func mismatch(_ claimed: ReplicaID, _ enrolment: Enrolment) -> WireError {
        WireError(403, "replica_mismatch", "This credential belongs to \(enrolment.replica), not \(claimed).", field: "sender")
    }

    /// Authenticates, reads (and inflates) the body, decodes it, runs `body`, and encodes the answer;
    /// every failure becomes a JSON error with its status.
    func handle<In: Decodable, Out: Encodable>(_ request: Request, _ body: (In, Enrolment) async throws -> Out) async throws -> Response {
        let wantsGzip = request.headers[.acceptEncoding]?.contains("gzip") ?? false
        do {
            let enrolment = try authenticate(request)
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
            let message = try Wire.decode(In.self, from: data)
            return try respond(try await body(message, enrolment), gzip: wantsGzip)
        } catch let error as WireError {
            return try respond(WireError.Envelope(error: error.body), status: error.status, gzip: false)
        } catch let error as ProtocolError {
            return try respond(WireError.Envelope(error: error), status: 400, gzip: false)
        } catch {
            return try respond(WireError.Envelope(error: ProtocolError(code: "unavailable", message: "The hub could not complete the request; retry later.")), status: 503, gzip: false)
        }
    }

    func authenticate(_ request: Request) throws -> Enrolment {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw WireError(401, "unknown_credential", "Send the credential the county issued: Authorization: Bearer <credential>.")
        }
        guard let enrolment = try store.enrolment(forSecret: String(header.dropFirst(7))) else {
            throw WireError(401, "unknown_credential", "This credential is not known to the county hub.")
        }
        guard !enrolment.revoked else {
            throw WireError(401, "revoked_credential", "This credential of \(enrolment.replica) was revoked by the county; ask for a new enrolment.")
        }
        return enrolment
    }

    func respond<T: Encodable>(_ value: T, status: Int = 200, gzip: Bool) throws -> Response {
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
    /// - Throws: `HubTLSError` when the TLS files cannot be loaded.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: router(), server: try serverBuilder(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tianzhang-hub"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}
