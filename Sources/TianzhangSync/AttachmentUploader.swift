import Foundation
import TianzhangDomain
import TianzhangSync

/// Uploads an attachment from the local vault in chunks, each starting at the byte the receiver last
/// confirmed: after a cut at any byte, the next attempt asks where to resume and sends only the rest.
public struct AttachmentUploader: Sendable {
    public let vault: any AttachmentSource
    public let transport: any AttachmentTransport
    /// Bytes per request: small enough to pass a link that drops long bodies, large enough to be cheap.
    public var chunkBytes: Int

    public init(vault: any AttachmentSource, transport: any AttachmentTransport, chunkBytes: Int = 128 * 1024) {
        self.vault = vault
        self.transport = transport
        self.chunkBytes = chunkBytes
    }

    /// Sends whatever the receiver does not hold yet.
    /// - Parameter progress: called with the size of each chunk the receiver confirmed.
    /// - Returns: the receiver's final status (`complete`), and how many bytes this call sent.
    /// - Throws: `SyncClientError`: the link failed (retry later: the next call resumes), or the receiver
    ///   refused (`digest_mismatch` means the local bytes are not what their name says).
    @discardableResult
    public func upload(_ sha256: String, size: Int64, record: String? = nil, progress: (Int64) -> Void = { _ in }) async throws(SyncClientError) -> (status: AttachmentStatus, sent: Int64) {
        var status = try await transport.attachmentStatus(sha256, record: record)
        var sent: Int64 = 0
        var mismatches = 0
        while !status.complete {
            let bytes: Data
            do { bytes = try vault.chunk(of: sha256, from: status.received, limit: chunkBytes) } catch {
                throw .transport("the local copy of \(sha256) cannot be read: \(error)")
            }
            guard !bytes.isEmpty else { throw .transport("the local copy of \(sha256) is shorter than \(size) bytes") }
            do {
                status = try await transport.uploadAttachmentChunk(sha256, offset: status.received, size: size, bytes: bytes, record: record)
                sent += Int64(bytes.count)
                progress(Int64(bytes.count))
            } catch .refused(409, let error) where error.code == "offset_mismatch" && mismatches < 3 {
                // Another attempt (or another device with the same photo) moved the receiver on: ask again.
                mismatches += 1
                status = try await transport.attachmentStatus(sha256, record: record)
            }
        }
        return (status, sent)
    }
}
