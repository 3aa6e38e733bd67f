/// Metadata of an attachment (a photo, a document), addressed by the SHA-256 of its bytes.
public struct AttachmentMetadata: Hashable, Sendable, Codable {
    /// Lower-case hex SHA-256 of the bytes; also the attachment's id.
    public var sha256: String
    public var sizeBytes: Int64
    /// e.g. `image/jpeg`.
    public var mediaType: String
    public var caseID: RecordID?
    public var createdAt: Timestamp
    public var author: String

    public static let sizeBytesMax: Int64 = 64 * 1024 * 1024
    public static let mediaTypesAllowed: Set<String> = [
        "image/jpeg", "image/png", "image/heic", "image/webp", "video/mp4", "application/pdf",
    ]

    public init(sha256: String, sizeBytes: Int64, mediaType: String, caseID: RecordID?, createdAt: Timestamp, author: String) {
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.mediaType = mediaType
        self.caseID = caseID
        self.createdAt = createdAt
        self.author = author
    }

    /// - Throws: `ValidationError` for a malformed digest, a size out of range or an unsupported media type.
    public func validate() throws(ValidationError) {
        try AttachmentMetadata.validateDigest(sha256, field: "sha256")
        guard sizeBytes > 0, sizeBytes <= AttachmentMetadata.sizeBytesMax else {
            throw ValidationError(.invalidValue, "Attachment size must be 1 byte to 64 MiB, not \(sizeBytes).", field: "sizeBytes")
        }
        guard AttachmentMetadata.mediaTypesAllowed.contains(mediaType) else {
            let allowed = AttachmentMetadata.mediaTypesAllowed.sorted().joined(separator: ", ")
            throw ValidationError(.invalidValue, "Media type \"\(mediaType)\" is not accepted; use one of \(allowed).", field: "mediaType")
        }
    }

    /// Checks that `digest` is 64 lower-case hex characters.
    public static func validateDigest(_ digest: String, field: String) throws(ValidationError) {
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw ValidationError(.invalidValue, "\"\(digest)\" is not a SHA-256 digest (64 lower-case hex characters).", field: field)
        }
    }
}

/// A person in the field-chief chain (田长, 网格员, 巡查员).
public struct FieldChief: Hashable, Sendable, Codable {
    public var id: String
    public var name: String
    /// The division the person is chief of (a village for village-level chiefs).
    public var division: DivisionCode
    public var phone: String?

    public init(id: String, name: String, division: DivisionCode, phone: String? = nil) {
        self.id = id
        self.name = name
        self.division = division
        self.phone = phone
    }
}
