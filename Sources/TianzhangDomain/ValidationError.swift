/// A domain validation failure: a stable code, a sentence a person can act on, and the field it concerns.
///
/// Codes are wire-stable (they travel in protocol rejections); messages may improve over time.
public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A wire-stable error code, such as `"invalid_division_code"`.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
        ExpressibleByStringLiteral
    {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public var description: String { rawValue }

        public static let invalidDivisionCode: Code = "invalid_division_code"
        public static let wrongDivisionLevel: Code = "wrong_division_level"
        public static let unknownLandClass: Code = "unknown_land_class"
        public static let invalidGeometry: Code = "invalid_geometry"
        public static let invalidValue: Code = "invalid_value"
        public static let missingField: Code = "missing_field"
        public static let illegalTransition: Code = "illegal_transition"
        public static let notAuthorized: Code = "not_authorized"
        public static let invalidIdentifier: Code = "invalid_identifier"
    }

    public var code: Code
    public var message: String
    /// A JSON-path-like name of the offending field, e.g. `"geometry.rings[0]"`.
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String {
        if let field { return "\(code) at \(field): \(message)" }
        return "\(code): \(message)"
    }

    /// The same error, reported under a parent field (`parcel` + `geometry` → `parcel.geometry`).
    public func nested(under parent: String) -> ValidationError {
        var copy = self
        copy.field = field.map { $0.hasPrefix("[") ? parent + $0 : parent + "." + $0 } ?? parent
        return copy
    }
}
