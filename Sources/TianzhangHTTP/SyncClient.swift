import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TianzhangSync

/// A failure talking to the hub: the hub's own JSON error, or the link.
public enum SyncClientError: Error, CustomStringConvertible, Sendable {
    /// The hub answered with a protocol error (bad credential, malformed request …): retrying will not help.
    case refused(status: Int, ProtocolError)
    /// The link failed (refused, cut, timed out, stalled): retrying later may help.
    case transport(String)

    public var description: String {
        switch self {
        case .refused(let status, let error): "the hub refused the request (HTTP \(status)): \(error)"
        case .transport(let message): "the link failed: \(message)"
        }
    }

    public var isRetryable: Bool {
        switch self {
        case .refused(let status, _): status >= 500
        case .transport: true
        }
    }
}

/// The sync client of protocol v1 over HTTP, on Foundation's URLSession (libcurl underneath on Linux).
/// Bodies are gzip in both directions; every request carries the bearer credential.
public final class SyncClient: Sendable {
    public let baseURL: URL
    let credential: String
    let session: URLSession

    /// - Parameters:
    ///   - timeout: seconds a request may wait for the next bytes before it is abandoned (a stalled
    ///     link), and the basis of the total limit (4×).
    public init(baseURL: URL, credential: String, timeout: TimeInterval = 20) {
        self.baseURL = baseURL
        self.credential = credential
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout * 4
        configuration.httpMaximumConnectionsPerHost = 1
        session = URLSession(configuration: configuration)
    }

    public func hello(_ request: HelloRequest) async throws(SyncClientError) -> HelloResponse { try await post("/v1/hello", request) }
    public func push(_ request: PushRequest) async throws(SyncClientError) -> PushResponse { try await post("/v1/push", request) }
    public func pull(_ request: PullRequest) async throws(SyncClientError) -> PullResponse { try await post("/v1/pull", request) }

    func post<In: Encodable, Out: Decodable>(_ path: String, _ body: In) async throws(SyncClientError) -> Out {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("gzip", forHTTPHeaderField: "Accept-Encoding")
        request.setValue("gzip", forHTTPHeaderField: "Content-Encoding")
        request.setValue("Bearer \(credential)", forHTTPHeaderField: "Authorization")
        let data: Data, response: URLResponse
        do {
            request.httpBody = try Wire.gzip(try Wire.encoder.encode(body))
            (data, response) = try await session.data(for: request)
        } catch {
            throw .transport(error.localizedDescription)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        var payload = data
        // libcurl inflates gzip itself when it asked for it; inflate here only what is still compressed.
        if payload.starts(with: [0x1F, 0x8B]) {
            do { payload = try Wire.gunzip(payload, maxBytes: 64 * 1024 * 1024) } catch { throw .transport("a corrupt gzip answer: \(error)") }
        }
        guard status == 200 else {
            if let envelope = try? JSONDecoder().decode(WireError.Envelope.self, from: payload) { throw .refused(status: status, envelope.error) }
            throw .transport("HTTP \(status) without a protocol error body")
        }
        do { return try JSONDecoder().decode(Out.self, from: payload) } catch {
            throw .transport("an answer that does not decode (a cut body?): \(error)")
        }
    }
}
