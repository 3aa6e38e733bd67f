import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync
import TianzhangTesting

/// A temporary folder with a county CA, a hub certificate signed by it, and another CA (not the county's).
struct TLSWorld {
    let folder: URL
    let county: TestCertificates
    let stranger: TestCertificates

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        county = try TestCertificates(in: folder, name: "county")
        stranger = try TestCertificates(in: folder, name: "stranger")
    }

    var hubFiles: HubServer.TLSFiles { .init(certificateChainPath: county.hubCertificate.path, privateKeyPath: county.hubKey.path) }
    func pem(_ certificates: TestCertificates) throws -> Data { try Data(contentsOf: certificates.caCertificate) }
}

/// A hub with one case in the township (and one elsewhere), a node enrolled with it, and the node's store.
struct SyncFixture {
    let hub: RunningHub
    let secret: String
    let nodeStore: SQLiteReplicaStore
    let engine = SyncEngine()
    let node = try! ReplicaID("node:371312001")
    let township = try! DivisionCode("371312001")

    init(hub: RunningHub) throws {
        self.hub = hub
        let cases = HubServerTests()
        try hub.store.write { [engine] tx in
            for change in [cases.newCase(1), cases.newCase(2, village: "371312004201", id: "01JD0000000000000000000009")] {
                _ = try engine.record(Draft(type: .enforcementCase, id: change.recordID, scope: change.scope, author: "dispatcher", fields: change.fields), physicalNow: hub.now, in: tx)
            }
        }
        secret = try hub.store.enrol(node, jurisdiction: .township(township), now: hub.now)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        nodeStore = try SQLiteReplicaStore(path: folder.appendingPathComponent("node.sqlite").path)
        try nodeStore.write { [engine, node, township, secret] tx in _ = try engine.open(replica: node, jurisdiction: .township(township), credential: secret, in: tx) }
    }

    func runner(_ client: SyncClient) -> SyncRunner {
        var runner = SyncRunner(store: nodeStore, engine: engine, client: client, replica: node, clock: { 1_763_884_800_000 })
        runner.backoffFirst = .milliseconds(50)
        return runner
    }

    /// A status change on the township's case, waiting in the outbox.
    func editOffline() throws {
        try nodeStore.write { tx in
            _ = try engine.record(Draft(type: .enforcementCase, id: "01JD0000000000000000000001", scope: try DivisionCode("371312001201"), author: "clerk",
                                        fields: ["status": .set(WorkflowValue(status: .verifying, round: 1).json)]), physicalNow: 1_763_884_801_000, in: tx)
        }
    }

    func expectConverged(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let nodeDigest = try nodeStore.read { try engine.digest(of: .township(township), in: $0) }
        let hubDigest = try hub.store.read { try engine.digest(of: .township(township), in: $0) }
        #expect(nodeDigest == hubDigest, sourceLocation: sourceLocation)
        #expect(try nodeStore.summary().pendingChanges == 0, sourceLocation: sourceLocation)
        #expect(try hub.store.enforcementCase("01JD0000000000000000000001")?.status == .verifying, sourceLocation: sourceLocation)
    }
}

/// A loopback socket that listens and never accepts: connections complete in the kernel, nothing answers.
final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// Collects the runner's progress lines (called from the runner's task).
final class ProgressLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var failures: [String] { lock.withLock { lines.filter { $0.hasPrefix("link failed") } } }
}

@Suite("The libcurl client: TLS with a pinned county CA, stalled links, clear errors", .serialized)
struct TransportTests {
    @Test("a node syncs over https with the pinned county CA; the hub and the node end with the same digest")
    func syncOverHTTPS() async throws {
        let world = try TLSWorld()
        let fixture = try SyncFixture(hub: try await RunningHub(tls: world.hubFiles))
        #expect(fixture.hub.url.scheme == "https")
        let client = SyncClient(baseURL: fixture.hub.url, credential: fixture.secret, options: .init(pinnedCertificateAuthority: try world.pem(world.county)))
        let hello = try await client.hello(HelloRequest(replica: fixture.node))
        #expect(hello.jurisdiction == .township(fixture.township))
        let first = try await fixture.runner(client).sync()
        #expect(first.received == 1 && first.attempts == 1)
        try fixture.editOffline()
        let second = try await fixture.runner(client).sync()
        // A push whose answer was lost to a slow machine is retried and answered `duplicate`: applied once either way.
        #expect(second.sent >= 1 && second.accepted + second.duplicates == 1 && second.rejected.isEmpty)
        try fixture.expectConverged()
    }

    @Test("a client pinned to another CA is refused with tls_untrusted_certificate, and the runner does not retry")
    func pinnedToAnotherCA() async throws {
        let world = try TLSWorld()
        let fixture = try SyncFixture(hub: try await RunningHub(tls: world.hubFiles))
        let client = SyncClient(baseURL: fixture.hub.url, credential: fixture.secret, options: .init(pinnedCertificateAuthority: try world.pem(world.stranger)))
        let error = await #expect(throws: SyncClientError.self) { try await client.hello(HelloRequest(replica: fixture.node)) }
        guard case .tls(let code, let message)? = error else { Issue.record("expected a TLS error, got \(String(describing: error))"); return }
        #expect(code == "tls_untrusted_certificate")
        #expect(message.contains("not signed by the pinned county CA"))
        #expect(error?.isRetryable == false)
        // The runner gives up at once: no retry, nothing sent, nothing received.
        let log = ProgressLines()
        await #expect(throws: SyncClientError.self) { try await fixture.runner(client).sync(progress: log.append) }
        #expect(log.failures.isEmpty, "a TLS verification failure must not be retried: \(log.failures)")
        #expect(try fixture.nodeStore.summary().cases == 0)
    }

    @Test("without a pinned CA the system's CAs do not trust the county's hub: tls_untrusted_certificate, with the fix named")
    func unpinnedClientDoesNotTrustCountyCA() async throws {
        let world = try TLSWorld()
        let fixture = try SyncFixture(hub: try await RunningHub(tls: world.hubFiles))
        let client = SyncClient(baseURL: fixture.hub.url, credential: fixture.secret)
        let error = await #expect(throws: SyncClientError.self) { try await client.hello(HelloRequest(replica: fixture.node)) }
        guard case .tls(let code, let message)? = error else { Issue.record("expected a TLS error, got \(String(describing: error))"); return }
        #expect(code == "tls_untrusted_certificate" && message.contains("--ca"))
    }

    @Test("a pinned CA that is not a certificate is refused with tls_bad_pinned_ca, not retried")
    func garbagePinnedCA() async throws {
        let world = try TLSWorld()
        let fixture = try SyncFixture(hub: try await RunningHub(tls: world.hubFiles))
        // Not PEM at all (refused before connecting), and PEM armour around garbage (refused by libcurl).
        let garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        for pem in ["not a certificate", garbage] {
            let client = SyncClient(baseURL: fixture.hub.url, credential: fixture.secret, options: .init(pinnedCertificateAuthority: Data(pem.utf8)))
            let error = await #expect(throws: SyncClientError.self) { try await client.hello(HelloRequest(replica: fixture.node)) }
            guard case .tls(let code, _)? = error else { Issue.record("expected a TLS error, got \(String(describing: error))"); return }
            #expect(code == "tls_bad_pinned_ca")
            #expect(error?.isRetryable == false)
        }
        // libcurl connected before it read the CA: let the hub accept and settle that connection before it
        // shuts down (a connection still in the backlog at shutdown trips a NIO assertion in the test hub).
        let good = SyncClient(baseURL: fixture.hub.url, credential: fixture.secret, options: .init(pinnedCertificateAuthority: try world.pem(world.county)))
        _ = try await good.hello(HelloRequest(replica: fixture.node))
    }

    @Test("plain http still works with the libcurl client, and an https client at a plain-http hub gets a clear, retryable handshake error")
    func plainHTTP() async throws {
        let fixture = try SyncFixture(hub: try await RunningHub())
        let client = SyncClient(baseURL: fixture.hub.url, credential: fixture.secret)
        _ = try await fixture.runner(client).sync()
        try fixture.editOffline()
        #expect(try await fixture.runner(client).sync().accepted == 1)
        try fixture.expectConverged()
        var https = URLComponents(url: fixture.hub.url, resolvingAgainstBaseURL: false)!
        https.scheme = "https"
        let wrong = SyncClient(baseURL: https.url!, credential: fixture.secret)
        let error = await #expect(throws: SyncClientError.self) { try await wrong.hello(HelloRequest(replica: fixture.node)) }
        guard case .transport(let message)? = error else { Issue.record("expected a transport error, got \(String(describing: error))"); return }
        #expect(message.contains("handshake"))
    }

    @Test("a refused connection and the hub's own refusals keep their meaning")
    func refusals() async throws {
        let fixture = try SyncFixture(hub: try await RunningHub())
        // The hub answers 401 with its code: not retryable.
        let stranger = SyncClient(baseURL: fixture.hub.url, credential: "tz_wrong")
        let refused = await #expect(throws: SyncClientError.self) { try await stranger.hello(HelloRequest(replica: fixture.node)) }
        guard case .refused(401, let body)? = refused else { Issue.record("expected a refusal, got \(String(describing: refused))"); return }
        #expect(body.code == "unknown_credential" && refused?.isRetryable == false)
        // Nobody listens: a clear, retryable transport error.
        let proxy = try FaultProxy(targetPort: 9, faults: .init(refuse: true))
        proxy.stop()
        let nobody = SyncClient(baseURL: URL(string: "http://127.0.0.1:\(proxy.port)")!, credential: fixture.secret)
        let error = await #expect(throws: SyncClientError.self) { try await nobody.hello(HelloRequest(replica: fixture.node)) }
        guard case .transport(let message)? = error else { Issue.record("expected a transport error, got \(String(describing: error))"); return }
        #expect(message.contains("could not connect") && error?.isRetryable == true)
    }

    @Test("a stalled link is abandoned by the low-speed limit with a clear error, well before the total timeout")
    func stalledLinkIsAbandoned() async throws {
        let fixture = try SyncFixture(hub: try await RunningHub())
        let port = try #require(fixture.hub.url.port)
        let proxy = try FaultProxy(targetPort: port, faults: .init(stallAfterBytes: 100))
        defer { proxy.stop() }
        let client = SyncClient(baseURL: URL(string: "http://127.0.0.1:\(proxy.port)")!, credential: fixture.secret,
                                options: .init(lowSpeedLimit: 64, lowSpeedTime: 1, totalTimeout: 600))
        let started = ContinuousClock.now
        let error = await #expect(throws: SyncClientError.self) { try await client.hello(HelloRequest(replica: fixture.node)) }
        let elapsed = ContinuousClock.now - started
        guard case .transport(let message)? = error else { Issue.record("expected a transport error, got \(String(describing: error))"); return }
        #expect(message.contains("the link stalled below 64 B/s for 1 s"), "\(message)")
        #expect(error?.isRetryable == true)
        // Abandoned by the low-speed limit (1 s), not by the total timeout (600 s).
        #expect(elapsed >= .seconds(1) && elapsed < .seconds(60), "\(elapsed)")
    }

    @Test("a push through a stalled link is abandoned, the runner retries once the link moves again, and nothing is lost or duplicated")
    func stalledPushRetriedToCompletion() async throws {
        let fixture = try SyncFixture(hub: try await RunningHub())
        let port = try #require(fixture.hub.url.port)
        let proxy = try FaultProxy(targetPort: port)
        defer { proxy.stop() }
        let client = SyncClient(baseURL: URL(string: "http://127.0.0.1:\(proxy.port)")!, credential: fixture.secret,
                                options: .init(lowSpeedLimit: 64, lowSpeedTime: 1, totalTimeout: 600))
        _ = try await fixture.runner(client).sync()
        try fixture.editOffline()
        proxy.faults = .init(stallAfterBytes: 100)
        // The first failure is the stall; the link then recovers (the proxy forwards again).
        let progress = ProgressLines()
        let report = try await fixture.runner(client).sync { line in
            progress.append(line)
            if line.hasPrefix("link failed") { proxy.faults = .init() }
        }
        #expect(progress.failures.count == 1 && progress.failures.first?.contains("stalled below 64 B/s") == true, "\(progress.failures)")
        #expect(report.attempts == 2 && report.sent == 1)
        try fixture.expectConverged()
        // The stalled request may still reach the hub late; it applies once.
        let log = try fixture.hub.store.read { try $0.logPage(after: 0, in: .county(fixture.hub.county), excluding: nil, limit: 1000).entries }
        #expect(log.filter { $0.change.origin == fixture.node }.count == 1)
    }

    @Test("a slow but moving link is bounded by the total timeout, with its own message")
    func totalTimeout() async throws {
        let fixture = try SyncFixture(hub: try await RunningHub())
        let port = try #require(fixture.hub.url.port)
        let proxy = try FaultProxy(targetPort: port, faults: .init(latencyMilliseconds: 3_000))
        defer { proxy.stop() }
        let client = SyncClient(baseURL: URL(string: "http://127.0.0.1:\(proxy.port)")!, credential: fixture.secret,
                                options: .init(lowSpeedLimit: 1, lowSpeedTime: 600, totalTimeout: 1))
        let error = await #expect(throws: SyncClientError.self) { try await client.hello(HelloRequest(replica: fixture.node)) }
        guard case .transport(let message)? = error else { Issue.record("expected a transport error, got \(String(describing: error))"); return }
        #expect(message.contains("the request took longer than 1 s"), "\(message)")
    }

    @Test("cancelling the caller's task aborts a stalled transfer instead of waiting for the link's limits")
    func cancellationAbortsTransfer() async throws {
        // A hub that never answers: a socket that listens and never accepts (the kernel completes the connection).
        let silent = try SilentListener()
        let client = SyncClient(baseURL: URL(string: "http://127.0.0.1:\(silent.port)")!, credential: "tz_any",
                                options: .init(lowSpeedLimit: 64, lowSpeedTime: 600, totalTimeout: 600))
        let node = try ReplicaID("node:371312001")
        let task = Task { try await client.hello(HelloRequest(replica: node)) }
        task.cancel()
        let result = await task.result
        guard case .failure(let error as SyncClientError) = result, case .transport(let message) = error else {
            Issue.record("expected a transport error, got \(result)")
            return
        }
        #expect(message.contains("cancelled"))
    }

    @Test("the hub refuses TLS files it cannot use with stable codes")
    func hubTLSFiles() throws {
        let world = try TLSWorld()
        let missing = world.folder.appendingPathComponent("missing.pem").path
        let certificate = world.county.hubCertificate.path, key = world.county.hubKey.path, ca = world.county.caCertificate.path
        for (files, code) in [((missing, key), "tls_certificate_unreadable"), ((key, key), "tls_certificate_unreadable"),
                              ((certificate, missing), "tls_key_unreadable"), ((certificate, ca), "tls_key_unreadable")] {
            let error = #expect(throws: HubTLSError.self) {
                _ = try HubServer.TLSFiles(certificateChainPath: files.0, privateKeyPath: files.1).serverConfiguration()
            }
            #expect(error?.code == code, "\(files): \(String(describing: error))")
        }
        _ = try world.hubFiles.serverConfiguration()
    }
}
