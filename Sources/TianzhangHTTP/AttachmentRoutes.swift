import Foundation
import Hummingbird
import NIOCore
import TianzhangDomain
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// Attachment bytes over HTTP (Protocol/SPEC.md §10): resumable chunked uploads, addressed by SHA-256.
extension ReplicaServer {
    /// The largest chunk a receiver takes in one request.
    public static let attachmentChunkMax = SyncService.attachmentChunkMax

    /// `GET /v1/attachments/{sha256}[?record=ID]` (how much is held, as far as the caller may know) and
    /// `PUT /v1/attachments/{sha256}?offset=N&size=T[&record=ID]` (a chunk of raw bytes, not compressed:
    /// photos are compressed already), into the caller's own partial upload.
    func addAttachmentRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/attachments/:sha256") { request, context in
            try await answer {
                let enrolment = try authenticate(request)
                let sha256 = context.parameters.get("sha256") ?? ""
                let record = request.uri.queryParameters.get("record").map { String($0) }
                return try service.attachmentStatus(sha256, record: record, enrolment)
            }
        }
        router.put("/v1/attachments/:sha256") { request, context in
            try await answer {
                let enrolment = try authenticate(request)
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
                let record = request.uri.queryParameters.get("record").map { String($0) }
                return try service.uploadAttachmentChunk(sha256, offset: offset, size: size, bytes: buffer.readableBytesView, record: record, enrolment)
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
            let wire = SyncService.wireError(error)
            return try respond(WireError.Envelope(error: wire.body), status: wire.status, gzip: false)
        } catch {
            return try respond(WireError.Envelope(error: ProtocolError(code: "unavailable", message: "The receiver could not complete the request; retry later.")), status: 503, gzip: false)
        }
    }
}
