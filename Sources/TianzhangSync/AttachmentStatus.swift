import TianzhangDomain

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

extension AttachmentMetadata {
    /// The id of the attachment record for these bytes on this case (SPEC §10): `att-` and the first 40
    /// hex characters of SHA-256 of `"<case id>\n<sha256>"` (`"-\n<sha256>"` without a case). So the same
    /// photo on cases of two townships is two records, each in its case's scope; the same photo twice on
    /// one case is one record. The digest travels in the record's `sha256` field.
    public static func recordID(sha256: String, caseID: RecordID?) -> String {
        var digest = ContentDigest()
        digest.update(Array("\(caseID?.rawValue ?? "-")\n\(sha256)".utf8))
        return "att-" + digest.finalize().prefix(40)
    }
}
