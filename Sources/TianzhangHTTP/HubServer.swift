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

    /// The protocol core this hub runs: `ReplicaServer` with the hub's own credentials.
    public var core: ReplicaServer {
        ReplicaServer(
            store: store, engine: engine, replica: hub, authority: .hub(store),
            configuration: .init(host: configuration.host, port: configuration.port, limits: configuration.limits, build: configuration.build, serverName: "tianzhang-hub"),
            clock: clock)
    }

    /// The routes: `GET /health`, `GET /version`, `POST /v1/hello`, `POST /v1/push`, `POST /v1/pull`
    /// (written once, in `ReplicaServer`).
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        core.addRoutes(to: router)
        addAlertRoutes(to: router)
        return router
    }

    func handle<In: Decodable, Out: Encodable>(_ request: Request, _ body: (In, Enrolment) async throws -> Out) async throws -> Response {
        try await core.handle(request, body)
    }

    func authenticate(_ request: Request) throws -> Enrolment { try core.authenticate(request) }

    func respond<T: Encodable>(_ value: T, status: Int = 200, gzip: Bool) throws -> Response { try core.respond(value, status: status, gzip: gzip) }

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
