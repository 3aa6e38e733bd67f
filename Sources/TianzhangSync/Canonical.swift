import Foundation

/// Canonical JSON: sorted keys, no insignificant whitespace, integers without a fraction. Used for
/// digests and for golden vectors, so that equal values always have equal bytes.
public enum Canonical {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func data<T: Encodable>(_ value: T) -> Data {
        // Encoding our own value types cannot fail; a failure is a programmer error. The bytes are
        // `encoder()`'s, written without it (`JSONTree`).
        do { return try JSONTree.data(value) } catch { preconditionFailure("canonical encoding failed: \(error)") }
    }

    public static func text<T: Encodable>(_ value: T) -> String { String(decoding: data(value), as: UTF8.self) }
}

extension JSONValue {
    public var canonicalText: String { Canonical.text(self) }

    /// Converts any `Encodable` value to a `JSONValue` through its JSON encoding.
    public init<T: Encodable>(encoding value: T) {
        // The value decoding its canonical JSON would give, without the round trip.
        do { self = try JSONTree.value(value) } catch { preconditionFailure("canonical encoding failed: \(error)") }
    }

    /// Decodes a `Decodable` value from this JSON value (as `JSONDecoder` would from its canonical JSON).
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try JSONValueDecoder().decode(T.self, from: self)
    }
}

/// The JSON every store keeps in its text columns (SQLite and PostgreSQL alike, so both hold the same
/// bytes): sorted keys, slashes unescaped.
public enum StoredJSON {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static func text<T: Encodable>(_ value: T) throws -> String { String(decoding: try JSONTree.data(value), as: UTF8.self) }
    public static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try JSONDecoder().decode(T.self, from: Data(text.utf8)) }

    /// A change this store wrote: read by `JSONParser` (the hot path of pulls and refolds), by
    /// `JSONDecoder` if that refuses it (seqs past 2^53, or anything else it does not take).
    public static func change(_ text: String) throws -> Change {
        if let change = try? Change(stored: text) { return change }
        return try decode(Change.self, text)
    }
}
