import Foundation
import Hummingbird
import NIOCore
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

/// Attachment bytes over HTTP (Protocol/SPEC.md §10): resumable chunked uploads, addressed by SHA-256.
extension ReplicaServer {
    /// The largest chunk a receiver takes in one request.
    public static let attachmentChunkMax = 1 << 20

    /// The vault of this replica (beside its SQLite store, or the folder it was given).
    func vault() throws(WireError) -> AttachmentVault {
        guard let folder = attachments else { throw WireError(503, "unavailable", "This receiver keeps no attachments (no vault folder).") }
        do { return try AttachmentVault(folder: folder) } catch { throw WireError(503, "unavailable", error.description) }
    }

    /// `GET /v1/attachments/{sha256}` (how much is held) and `PUT /v1/attachments/{sha256}?offset=N&size=T`
    /// (a chunk of raw bytes, not compressed: photos are compressed already).
    func addAttachmentRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/attachments/:sha256") { request, context in
            try await answer {
                _ = try authenticate(request)
                let sha256 = context.parameters.get("sha256") ?? ""
                let vault = try vault()
                let received = try vault.received(sha256)
                return AttachmentStatus(sha256: sha256, received: received, complete: vault.has(sha256))
            }
        }
        router.put("/v1/attachments/:sha256") { request, context in
            try await answer {
                _ = try authenticate(request)
                let sha256 = context.parameters.get("sha256") ?? ""
                guard let offset = request.uri.queryParameters.get("offset").flatMap(Int64.init), offset >= 0 else {
                    throw WireError(400, "invalid_value", "Give the chunk's first byte as ?offset=N (N ≥ 0).", field: "offset")
                }
                guard let size = request.uri.queryParameters.get("size").flatMap(Int64.init) else {
                    throw WireError(400, "invalid_value", "Give the attachment's whole size as ?size=N.", field: "size")
                }
                var buffer: ByteBuffer
                do {
                    buffer = try await request.body.collect(upTo: Self.attachmentChunkMax)
                } catch {
                    throw WireError(413, "body_too_large", "A chunk is at most \(Self.attachmentChunkMax) bytes.")
                }
                let (received, complete) = try vault().append(sha256, offset: offset, size: size, bytes: buffer.readableBytesView)
                return AttachmentStatus(sha256: sha256, received: received, complete: complete)
            }
        }
    }

    /// Runs `body` and answers its value as JSON; every failure becomes a JSON error with its status.
    func answer<Out: Encodable>(_ body: () async throws -> Out) async throws -> Response {
        do {
            return try respond(try await body(), gzip: false)
        } catch let error as WireError {
            return try respond(WireError.Envelope(error: error.body), status: error.status, gzip: false)
        } catch let error as VaultError {
            let status = switch error.code {
            case .offsetMismatch: 409
            case .digestMismatch, .sizeMismatch: 422
            case .invalidValue: 400
            case .io: 503
            }
            var body = ProtocolError(code: error.code.rawValue, message: error.message, field: error.code == .offsetMismatch ? "offset" : nil)
            if let received = error.received { body.message += " (received: \(received))" }
            return try respond(WireError.Envelope(error: body), status: status, gzip: false)
        } catch {
            return try respond(WireError.Envelope(error: ProtocolError(code: "unavailable", message: "The receiver could not complete the request; retry later.")), status: 503, gzip: false)
        }
    }
}
