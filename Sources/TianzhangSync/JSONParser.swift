import TianzhangDomain

/// Parses JSON text into a `JSONValue` without `JSONDecoder` (whose `Codable` machinery was a third of
/// the hub's time reading stored changes: `docs/performance.md`). Strict RFC 8259: one value, no trailing
/// commas, no comments, strings of valid escapes; numbers read as `Double` (correctly rounded, as
/// `JSONDecoder` reads them). Used for JSON the stores wrote themselves; requests from peers still go
/// through `JSONDecoder` and its error messages.
public struct JSONParser {
    public struct Malformed: Error, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "Invalid JSON at byte \(offset): \(reason)." }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse($0) }
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw parser.fail("text after the value") }
        return value
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0

    func fail(_ reason: String) -> Malformed { Malformed(offset: offset, reason: reason) }

    mutating func skipSpace() {
        while offset < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[offset]) { offset += 1 }
    }

    mutating func literal(_ word: StaticString, _ value: JSONValue) throws -> JSONValue {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw fail("the text ends early") }
        for index in 0..<count where bytes[offset + index] != word.utf8Start[index] { throw fail("not a value") }
        offset += count
        return value
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw fail("values nest too deep") }
        guard offset < bytes.count else { throw fail("the text ends early") }
        switch bytes[offset] {
        case UInt8(ascii: "{"):
            offset += 1
            var members: [String: JSONValue] = [:]
            skipSpace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw fail("a member name must be a string") }
                let name = try string()
                skipSpace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw fail("a ':' must follow a member name") }
                offset += 1
                skipSpace()
                members[name] = try value(depth: depth + 1)
                skipSpace()
                guard offset < bytes.count else { throw fail("the text ends early") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                guard bytes[offset] == UInt8(ascii: "}") else { throw fail("',' or '}' expected") }
                offset += 1
                return .object(members)
            }
        case UInt8(ascii: "["):
            offset += 1
            var items: [JSONValue] = []
            skipSpace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
                offset += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard offset < bytes.count else { throw fail("the text ends early") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                guard bytes[offset] == UInt8(ascii: "]") else { throw fail("',' or ']' expected") }
                offset += 1
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return .number(try number())
        }
    }

    mutating func number() throws -> Double {
        let start = offset
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        func digits() -> Int {
            let first = offset
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
            return offset - first
        }
        let whole = offset
        guard digits() > 0 else { throw fail("not a value") }
        guard !(bytes[whole] == 0x30 && offset - whole > 1) else { throw fail("a number has a leading zero") }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw fail("digits must follow '.'") }
        }
        if offset < bytes.count, bytes[offset] | 0x20 == UInt8(ascii: "e") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw fail("digits must follow the exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        guard let number = Double(text), number.isFinite else { throw fail("a number out of range") }
        return number
    }

    mutating func hex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("the text ends early") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw fail("a \\u escape needs four hex digits")
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    mutating func string() throws -> String {
        offset += 1  // the opening quote
        let start = offset
        // Fast path: no escapes.
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
                offset += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw fail("a control character in a string") }
            offset += 1
        }
        var scalars = Array(UnsafeBufferPointer(rebasing: bytes[start..<offset]))
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                offset += 1
                return String(decoding: scalars, as: UTF8.self)
            }
            guard byte >= 0x20 else { throw fail("a control character in a string") }
            guard byte == UInt8(ascii: "\\") else {
                scalars.append(byte)
                offset += 1
                continue
            }
            offset += 1
            guard offset < bytes.count else { throw fail("the text ends early") }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append(0x22)
            case UInt8(ascii: "\\"): scalars.append(0x5C)
            case UInt8(ascii: "/"): scalars.append(0x2F)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard offset + 2 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                        throw fail("a lone surrogate")
                    }
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("a lone surrogate") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw fail("a lone surrogate")
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("not a character") }
                scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: throw fail("an unknown escape")
            }
        }
        throw fail("the text ends early")
    }
}

extension Change {
    /// A change read back from JSON a store wrote (`StoredJSON.text`), without `JSONDecoder`: the same
    /// checks as `init(from:)` on the members, the same change.
    public init(stored json: String) throws {
        let value = try JSONParser.parse(json)
        guard case .object(let members) = value else { throw JSONParser.Malformed(offset: 0, reason: "a change is an object") }
        func text(_ name: String) throws -> String {
            guard case .string(let string) = members[name] else { throw JSONParser.Malformed(offset: 0, reason: "\(name) must be a string") }
            return string
        }
        guard case .number(let seqNumber) = members["seq"], seqNumber >= 1, seqNumber.rounded() == seqNumber, seqNumber <= 9_007_199_254_740_992 else {
            throw JSONParser.Malformed(offset: 0, reason: "seq must be a whole number from 1")
        }
        let origin = try ReplicaID(try text("origin"))
        let recordID = try text("record")
        guard (try? RecordID(recordID)) != nil else { throw JSONParser.Malformed(offset: 0, reason: "\"\(recordID)\" is not a record id") }
        guard let hlc = HLC(try text("hlc")) else { throw JSONParser.Malformed(offset: 0, reason: "hlc is not <wall>-<counter>") }
        var base: [ChangeID] = []
        if let listed = members["base"] {
            guard case .array(let items) = listed else { throw JSONParser.Malformed(offset: 0, reason: "base must be an array") }
            for item in items {
                guard case .string(let idText) = item, let id = ChangeID(idText) else { throw JSONParser.Malformed(offset: 0, reason: "base lists change ids") }
                base.append(id)
            }
        }
        guard case .object(let ops) = members["ops"] else { throw JSONParser.Malformed(offset: 0, reason: "ops must be an object") }
        var fields: [String: FieldOperation] = [:]
        for (field, operation) in ops {
            guard case .object(let body) = operation, body.count == 1 else { throw JSONParser.Malformed(offset: 0, reason: "a field operation is {\"set\": value} or {\"add\": [values]}") }
            if let value = body["set"] {
                fields[field] = .set(value)
            } else if case .array(let values) = body["add"] {
                fields[field] = .add(values)
            } else {
                throw JSONParser.Malformed(offset: 0, reason: "a field operation is {\"set\": value} or {\"add\": [values]}")
            }
        }
        var extensions: [String: JSONValue] = [:]
        for (name, member) in members where !Change.knownKeys.contains(name) { extensions[name] = member }
        self.init(id: ChangeID(origin: origin, seq: UInt64(seqNumber)), recordType: .parcel, recordID: recordID, scope: try DivisionCode(try text("scope")),
                  hlc: hlc, author: try text("author"), base: base.sorted(), fields: fields, extensions: extensions)
        recordTypeName = try text("type")
        if let signature = members["sig"] {
            guard case .string(let sig) = signature else { throw JSONParser.Malformed(offset: 0, reason: "sig must be a string") }
            self.signature = sig
        }
    }
}
