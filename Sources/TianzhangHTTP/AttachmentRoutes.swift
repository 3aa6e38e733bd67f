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

    /// Whether a caller may learn that the bytes of `sha256` are here: an attachment record that refers to
    /// them (its `sha256` field) lies in the caller's jurisdiction. The records looked at are the one the
    /// caller names (`?record=ID`) and the one whose id is the digest (records made before ids per case).
    func mayKnow(_ sha256: String, record: String?, _ enrolment: Enrolment) -> Bool {
        guard (try? AttachmentMetadata.validateDigest(sha256, field: "sha256")) != nil else { return false }
        return (try? store.read { tx in try Self.mayKnow(sha256, record: record, enrolment, tx) }) ?? false
    }

    static func mayKnow(_ sha256: String, record: String?, _ enrolment: Enrolment, _ tx: any SyncTransaction) throws -> Bool {
        try [record, sha256].compactMap { $0 }.contains { id in
            guard let state = try tx.recordState(RecordKey(.attachment, id)),
                  state.registers["sha256"]?.heads.contains(where: { $0.value.stringValue == sha256 }) == true
            else { return false }
            return enrolment.jurisdiction.covers(state.scope)
        }
    }

    /// Whether a pushed attachment record's bytes are here for its sender: whole and verified, and either
    /// uploaded whole by the sender or referred to by a record it may see. (Bytes someone else uploaded
    /// do not count for a sender that could not see them: else a push would tell it they exist.)
    func holdsBytes(_ sha256: String, for change: Change, vault: AttachmentVault?, _ enrolment: Enrolment, _ tx: any SyncTransaction) -> Bool {
        guard let vault, vault.has(sha256) else { return false }
        let known = (try? Self.mayKnow(sha256, record: change.recordID, enrolment, tx)) ?? false
        return (try? vault.status(sha256, uploader: enrolment.replica.rawValue, mayKnow: known).complete) ?? false
    }

    /// `GET /v1/attachments/{sha256}[?record=ID]` (how much is held, as far as the caller may know) and
    /// `PUT /v1/attachments/{sha256}?offset=N&size=T[&record=ID]` (a chunk of raw bytes, not compressed:
    /// photos are compressed already), into the caller's own partial upload.
    func addAttachmentRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/attachments/:sha256") { request, context in
            try await answer {
                let enrolment = try authenticate(request)
                let sha256 = context.parameters.get("sha256") ?? ""
                let vault = try vault()
                let record = request.uri.queryParameters.get("record").map { String($0) }
                let known = mayKnow(sha256, record: record, enrolment)
                let held = try vault.status(sha256, uploader: enrolment.replica.rawValue, mayKnow: known)
                return AttachmentStatus(sha256: sha256, received: held.received, complete: held.complete)
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
                let known = mayKnow(sha256, record: record, enrolment)
                let (received, complete) = try vault().append(
                    sha256, uploader: enrolment.replica.rawValue, offset: offset, size: size, bytes: buffer.readableBytesView, mayKnow: known)
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
            case .quotaExceeded: 507
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
