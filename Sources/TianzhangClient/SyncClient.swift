import Foundation
import TianzhangSync

/// The sync client of protocol v1 over HTTP(S), on libcurl's easy interface (decision 005).
/// Bodies are gzip in both directions; every request carries the bearer credential. Requests of one
/// client run one at a time on the client's own thread, reusing one connection.
public final class SyncClient: SyncTransport {
    /// How the client treats the link.
    public struct Options: Sendable {
        /// Seconds to establish the connection (TCP and TLS) before giving up.
        public var connectTimeout: TimeInterval = 10
        /// A transfer slower than `lowSpeedLimit` bytes/s for `lowSpeedTime` seconds is abandoned: a link
        /// that trickles (or stalls) must not hold the sync for ever.
        public var lowSpeedLimit = 64
        public var lowSpeedTime = 15
        /// Seconds a whole request may take.
        public var totalTimeout: TimeInterval = 120
        /// The county CA's certificate (PEM). When set, the hub's certificate must be signed by it, and
        /// by nothing else: the system's CAs are not consulted.
        public var pinnedCertificateAuthority: Data?

        public init(connectTimeout: TimeInterval = 10, lowSpeedLimit: Int = 64, lowSpeedTime: Int = 15, totalTimeout: TimeInterval = 120,
                    pinnedCertificateAuthority: Data? = nil) {
            self.connectTimeout = connectTimeout
            self.lowSpeedLimit = lowSpeedLimit
            self.lowSpeedTime = lowSpeedTime
            self.totalTimeout = totalTimeout
            self.pinnedCertificateAuthority = pinnedCertificateAuthority
        }
    }

    public let baseURL: URL
    public let options: Options
    public let credential: String
    let easy = CurlEasy()

    /// - Parameters:
    ///   - timeout: the basis of the total limit of one request (4×), as before the libcurl client.
    public convenience init(baseURL: URL, credential: String, timeout: TimeInterval = 20) {
        self.init(baseURL: baseURL, credential: credential, options: Options(totalTimeout: timeout * 4))
    }

    public init(baseURL: URL, credential: String, options: Options) {
        self.baseURL = baseURL
        self.credential = credential
        self.options = options
    }

    /// - Throws: `SyncClientError` (`.refused` with the hub's code, `.transport`, `.tls`).
    public func hello(_ request: HelloRequest) async throws(SyncClientError) -> HelloResponse { try await post("/v1/hello", request) }
    /// - Throws: `SyncClientError` (`.refused` with the hub's code, `.transport`, `.tls`).
    public func push(_ request: PushRequest) async throws(SyncClientError) -> PushResponse { try await post("/v1/push", request) }
    /// - Throws: `SyncClientError` (`.refused` with the hub's code, `.transport`, `.tls`).
    public func pull(_ request: PullRequest) async throws(SyncClientError) -> PullResponse { try await post("/v1/pull", request) }

    func post<In: Encodable, Out: Decodable>(_ path: String, _ body: In) async throws(SyncClientError) -> Out {
        // A pinned CA that is plainly not PEM fails here, without opening a connection.
        if let pem = options.pinnedCertificateAuthority, !String(decoding: pem, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") {
            throw .tls(code: "tls_bad_pinned_ca", message: "TLS: the pinned county CA holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        let payload: Data
        do { payload = try Wire.gzip(try Wire.encoder.encode(body)) } catch { throw .transport("the request could not be encoded: \(error)") }
        return try await exchange(CurlRequest(
            url: baseURL.appendingPathComponent(path).absoluteString,
            headers: ["Content-Type: application/json", "Content-Encoding: gzip", "Authorization: Bearer \(credential)",
                      // No `Expect: 100-continue` round trip before each body.
                      "Expect:"],
            body: payload, options: options))
    }

    /// Sends one request and decodes the answer; a non-200 answer with a protocol error body is `.refused`.
    func exchange<Out: Decodable>(_ request: CurlRequest) async throws(SyncClientError) -> Out {
        let status: Int
        var data: Data
        switch await easy.perform(request) {
        case .failure(let code, let detail): throw CurlFailure(code: code, detail: detail).error(options: options, url: baseURL)
        case .answer(let answerStatus, let answer): (status, data) = (answerStatus, answer)
        }
        // libcurl inflates what it asked for; inflate here only what is still compressed.
        if data.starts(with: [0x1F, 0x8B]) {
            do { data = try Wire.gunzip(data, maxBytes: 64 * 1024 * 1024) } catch { throw .transport("a corrupt gzip answer: \(error)") }
        }
        guard status == 200 else {
            if let envelope = try? JSONDecoder().decode(WireError.Envelope.self, from: data) { throw .refused(status: status, envelope.error) }
            throw .transport("HTTP \(status) without a protocol error body")
        }
        do { return try JSONDecoder().decode(Out.self, from: data) } catch {
            throw .transport("an answer that does not decode (a cut body?): \(error)")
        }
    }

    // MARK: attachments (SPEC §10)

    var authorization: String { "Authorization: Bearer \(credential)" }

    /// `record=ID` (record ids are A–Z a–z 0–9 - _ . : only: nothing to escape).
    static func recordQuery(_ record: String?, first: Bool) -> String {
        guard let record, record.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else { return "" }
        return (first ? "?" : "&") + "record=" + record
    }

    func attachmentURL(_ sha256: String, query: String = "") -> String {
        baseURL.appendingPathComponent("/v1/attachments/\(sha256)").absoluteString + query
    }
}

extension SyncClient: AttachmentTransport {
    /// - Throws: `SyncClientError` (`.refused` with the receiver's code, `.transport`, `.tls`).
    public func attachmentStatus(_ sha256: String, record: String? = nil) async throws(SyncClientError) -> AttachmentStatus {
        try await exchange(CurlRequest(method: .get, url: attachmentURL(sha256, query: Self.recordQuery(record, first: true)), headers: [authorization], body: Data(), options: options))
    }

    /// Sends raw bytes (photos are compressed already: no gzip).
    /// - Throws: `SyncClientError`; `.refused(409, offset_mismatch)` when the receiver holds another length.
    public func uploadAttachmentChunk(_ sha256: String, offset: Int64, size: Int64, bytes: Data, record: String? = nil) async throws(SyncClientError) -> AttachmentStatus {
        try await exchange(CurlRequest(
            method: .put, url: attachmentURL(sha256, query: "?offset=\(offset)&size=\(size)" + Self.recordQuery(record, first: false)),
            headers: ["Content-Type: application/octet-stream", authorization, "Expect:"], body: bytes, options: options))
    }
}
