/// Protocol v1 §10: What a receiver holds of an attachment: `GET /v1/attachments/{sha256}` and the answer to every chunk.
public struct AttachmentStatus: Hashable, Sendable, Codable {
    public var sha256: String
    /// Bytes held and flushed to disk: resume an upload from here.
    public var received: Int64
    /// Whether the whole attachment is here and its digest verified.
    public var complete: Bool

    public init(sha256: String, received: Int64, complete: Bool) {
        self.sha256 = sha256
        self.received = received
        self.complete = complete
    }
}
