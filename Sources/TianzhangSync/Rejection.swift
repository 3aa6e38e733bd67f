import TianzhangDomain

/// Why a receiver refused one change: a wire-stable code, a sentence a person can act on, the field.
public struct Rejection: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { rawValue = value }
        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        public static let unsupportedRecordType: Code = "unsupported_record_type"
        public static let outsideJurisdiction: Code = "outside_jurisdiction"
        public static let hubOwnedField: Code = "hub_owned_field"
        public static let hubOnlyRecord: Code = "hub_only_record"
        public static let notAuthorized: Code = "not_authorized"
        public static let immutableRecord: Code = "immutable_record"
        public static let clockAhead: Code = "clock_ahead"
        public static let emptyChange: Code = "empty_change"
        public static let originMismatch: Code = "origin_mismatch"
        public static let invalidValue: Code = "invalid_value"
        public static let scopeMismatch: Code = "scope_mismatch"
    }

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
        code = Code(rawValue: error.code.rawValue)
        message = error.message
        field = error.field.map { "\(fieldPrefix).\($0)" } ?? fieldPrefix
    }

    public var description: String { "\(code)\(field.map { " at \($0)" } ?? ""): \(message)" }
}
