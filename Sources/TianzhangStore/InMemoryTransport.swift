import Foundation
import TianzhangDomain
import TianzhangSync

/// One call of protocol v1 (SPEC §3, §10), as a message: what an in-memory transport carries.
public enum ServiceCall: Sendable {
    case hello(HelloRequest)
    case push(PushRequest)
    case pull(PullRequest)
    case attachmentStatus(sha256: String, record: String?)
    case attachmentChunk(sha256: String, offset: Int64, size: Int64, bytes: Data, record: String?)

    /// What the call is, for traces ("push 8", "pull after 12").
    public var summary: String {
        switch self {
        case .hello: "hello"
        case .push(let request): "push \(request.changes.count)"
        case .pull(let request): "pull after \(request.after)"
        case .attachmentStatus(let sha256, _): "status \(sha256.prefix(8))"
        case .attachmentChunk(let sha256, let offset, _, let bytes, _): "chunk \(sha256.prefix(8)) @\(offset)+\(bytes.count)"
        }
    }
}

/// The answer to a `ServiceCall`.
public enum ServiceAnswer: Sendable {
    case hello(HelloResponse)
    case push(PushResponse)
    case pull(PullResponse)
    case attachment(AttachmentStatus)
}

extension SyncService {
    /// Answers one call made with the bearer credential `secret`, exactly as the HTTP server would:
    /// its refusals come back as `SyncClientError.refused` with the status and error body a client sees.
    public func answer(_ call: ServiceCall, secret: String?) -> Result<ServiceAnswer, SyncClientError> {
        do {
            let enrolment = try authenticate(secret: secret)
            switch call {
            case .hello(let request): return .success(.hello(try hello(request, enrolment)))
            case .push(let request): return .success(.push(try push(request, enrolment)))
            case .pull(let request): return .success(.pull(try pull(request, enrolment)))
            case .attachmentStatus(let sha256, let record): return .success(.attachment(try attachmentStatus(sha256, record: record, enrolment)))
            case .attachmentChunk(let sha256, let offset, let size, let bytes, let record):
                return .success(.attachment(try uploadAttachmentChunk(sha256, offset: offset, size: size, bytes: bytes, record: record, enrolment)))
            }
        } catch let error as WireError {
            return .failure(.refused(status: error.status, error.body))
        } catch let error as ProtocolError {
            return .failure(.refused(status: 400, error))
        } catch {
            return .failure(.refused(status: 503, ProtocolError(code: "unavailable", message: "The server could not complete the request; retry later.")))
        }
    }
}

/// A transport that hands each call to `exchange` as a message: straight to a `SyncService` in the
/// same process (`direct`), or through the simulation's network, which delays, drops and repeats them.
public struct MessageTransport: SyncTransport {
    public let credential: String
    public let exchange: @Sendable (ServiceCall) async throws(SyncClientError) -> ServiceAnswer

    public init(credential: String, exchange: @escaping @Sendable (ServiceCall) async throws(SyncClientError) -> ServiceAnswer) {
        self.credential = credential
        self.exchange = exchange
    }

    /// Calls `service` directly, as the holder of `credential`.
    public static func direct(to service: SyncService, credential: String) -> MessageTransport {
        MessageTransport(credential: credential) { call throws(SyncClientError) in try service.answer(call, secret: credential).get() }
    }

    public func hello(_ request: HelloRequest) async throws(SyncClientError) -> HelloResponse {
        guard case .hello(let answer) = try await exchange(.hello(request)) else { throw Self.wrongAnswer }
        return answer
    }

    public func push(_ request: PushRequest) async throws(SyncClientError) -> PushResponse {
        guard case .push(let answer) = try await exchange(.push(request)) else { throw Self.wrongAnswer }
        return answer
    }

    public func pull(_ request: PullRequest) async throws(SyncClientError) -> PullResponse {
        guard case .pull(let answer) = try await exchange(.pull(request)) else { throw Self.wrongAnswer }
        return answer
    }

    public func attachmentStatus(_ sha256: String, record: String?) async throws(SyncClientError) -> AttachmentStatus {
        guard case .attachment(let answer) = try await exchange(.attachmentStatus(sha256: sha256, record: record)) else { throw Self.wrongAnswer }
        return answer
    }

    public func uploadAttachmentChunk(_ sha256: String, offset: Int64, size: Int64, bytes: Data, record: String?) async throws(SyncClientError) -> AttachmentStatus {
        guard case .attachment(let answer) = try await exchange(.attachmentChunk(sha256: sha256, offset: offset, size: size, bytes: bytes, record: record)) else {
            throw Self.wrongAnswer
        }
        return answer
    }

    static let wrongAnswer = SyncClientError.transport("the answer does not match the call")
}
