import TianzhangDomain

/// Why a receiver refused one change: a wire-stable code, a sentence a person can act on, the field.
public struct Rejection: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    /// One code space for domain validation and protocol refusals (`Protocol/errors.md`).
    public typealias Code = ValidationError.Code

    public var code: Code
    public var message: String
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A domain validation error, carried with its own code (`invalid_geometry`, `unknown_land_class` …).
    public init(_ error: ValidationError, fieldPrefix: String) {
        code = error.code
        message = error.message
        field = error.field.map { "\(fieldPrefix).\($0)" } ?? fieldPrefix
    }

    public var description: String { "\(code)\(field.map { " at \($0)" } ?? ""): \(message)" }
}

extension ValidationError.Code {
    public static let unsupportedRecordType: Self = "unsupported_record_type"
    public static let outsideJurisdiction: Self = "outside_jurisdiction"
    public static let hubOwnedField: Self = "hub_owned_field"
    public static let hubOnlyRecord: Self = "hub_only_record"
    public static let immutableRecord: Self = "immutable_record"
    public static let clockAhead: Self = "clock_ahead"
    public static let emptyChange: Self = "empty_change"
    public static let originMismatch: Self = "origin_mismatch"
    public static let scopeMismatch: Self = "scope_mismatch"
    public static let badSignature: Self = "bad_signature"
    public static let missingSignature: Self = "missing_signature"
    public static let unknownOrigin: Self = "unknown_origin"
    public static let conflictingChangeID: Self = "conflicting_change_id"
    /// Not final: the receiver does not hold the whole, verified bytes an attachment record refers to.
    /// It remembers nothing; the sender keeps the change pending, uploads the bytes and sends it again.
    public static let attachmentBytesMissing: Self = "attachment_bytes_missing"
    /// A change over the per-change limits: too many ops or unknown members, values nested too deep.
    public static let changeTooLarge: Self = "change_too_large"
}

extension Rejection {
    /// Whether a receiver may remember this refusal and give it again (every code but `attachment_bytes_missing`).
    /// Not final: `attachment_bytes_missing` (the bytes are not up yet) and `clock_ahead` (the stamp is
    /// ahead of this receiver's time, which may be the wrong one: a relay whose clock fell behind). The
    /// receiver remembers nothing; the sender keeps the change and sends it again (SPEC §2.4, §4).
    public var isFinal: Bool { code != .attachmentBytesMissing && code != .clockAhead }
}
