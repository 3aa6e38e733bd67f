import Foundation

/// Encodes `Encodable` values to the bytes `JSONEncoder` writes with `[.sortedKeys, .withoutEscapingSlashes]`
/// (the project's canonical and stored JSON), without Foundation's JSON machinery: a `JSONValue` inside a
/// value is written as it is instead of being taken apart through containers and dynamic casts. A
/// 10,000-position polygon took most of the write path's time through `JSONEncoder` (perf, issue 10);
/// the bytes are the same (`JSONTreeTests` compares both on random values, the golden vectors on every
/// message).
public enum JSONTree {
    /// A JSON value as the encoder builds it: integers kept exact (seqs are `UInt64`).
    indirect enum Node {
        case null
        case bool(Bool)
        case int(Int64)
        case uint(UInt64)
        case double(Double)
        case string(String)
        case array([Node])
        case object([String: Node])
        case value(JSONValue)
    }

    public struct InvalidValue: Error, CustomStringConvertible {
        public var description: String
    }

    /// The canonical bytes of `value`.
    public static func data<T: Encodable>(_ value: T) throws -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        try write(try node(value), into: &bytes)
        return Data(bytes)
    }

    /// `value` as a `JSONValue` (numbers as `Double`, as decoding its JSON would give).
    public static func value<T: Encodable>(_ value: T) throws -> JSONValue {
        try jsonValue(try node(value))
    }

    static func node<T: Encodable>(_ value: T) throws -> Node {
        let box = NodeBox()
        try encodeNode(value, into: box, codingPath: [])
        return box.resolved ?? .object([:])
    }

    /// Values `JSONEncoder` writes in its own way (its default strategies), and our `JSONValue`.
    static func special<T: Encodable>(_ value: T) throws -> Node? {
        switch value {
        case let json as JSONValue: return .value(json)
        case let change as Change: return change.treeNode
        case let data as Data: return .string(data.base64EncodedString())
        case let url as URL: return .string(url.absoluteString)
        default: return nil
        }
    }

    static func jsonValue(_ node: Node) throws -> JSONValue {
        switch node {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(Double(i))
        case .uint(let u): return .number(Double(u))
        case .double(let d): return .number(d)
        case .string(let s): return .string(s)
        case .array(let items): return .array(try items.map(jsonValue))
        case .object(let members): return .object(try members.mapValues(jsonValue))
        case .value(let v): return v
        }
    }

    // MARK: Writing

    static func write(_ node: Node, into out: inout [UInt8]) throws {
        switch node {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .uint(let u): out.append(contentsOf: String(u).utf8)
        case .double(let d): try writeDouble(d, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                try write(members[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .value(let value): try write(value, into: &out)
        }
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) throws {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n):
            // As `JSONValue.encode(to:)`: integral values within 2^53 as integers.
            if n.rounded() == n && abs(n) < 9.007_199_254_740_992e15 { out.append(contentsOf: String(Int64(n)).utf8) } else { try writeDouble(n, into: &out) }
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            var first = true
            for item in items {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                try write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in members.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                try write(members[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeDouble(_ d: Double, into out: inout [UInt8]) throws {
        guard d.isFinite else { throw InvalidValue(description: "\(d) is not a JSON number") }
        var text = d.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        out.append(contentsOf: text.utf8)
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - The encoder

/// Where an encoder or container puts what it encodes.
final class NodeBox {
    var node: JSONTree.Node?
    /// Members and items while a container is open (materialized into `node` on read).
    var members: [String: NodeBox]?
    var items: [NodeBox]?

    init(_ node: JSONTree.Node? = nil) { self.node = node }

    var resolved: JSONTree.Node? {
        if let members { return .object(members.compactMapValues(\.resolved)) }
        if let items { return .array(items.map { $0.resolved ?? .null }) }
        return node
    }
}

final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let target: NodeBox

    init(codingPath: [any CodingKey], target: NodeBox) {
        self.codingPath = codingPath
        self.target = target
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if target.members == nil { target.members = [:] }
        return KeyedEncodingContainer(TreeKeyedContainer<Key>(box: target, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if target.items == nil { target.items = [] }
        return TreeUnkeyedContainer(box: target, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { TreeSingleContainer(box: target, codingPath: codingPath) }
}

/// Encodes one value into `box`: scalars directly, `JSONValue` and Foundation's special types as
/// `JSONEncoder` would, anything else through its own `encode(to:)`.
func encodeNode<T: Encodable>(_ value: T, into box: NodeBox, codingPath: [any CodingKey]) throws {
    switch value {
    case let v as Bool: box.node = .bool(v)
    case let v as String: box.node = .string(v)
    case let v as Int: box.node = .int(Int64(v))
    case let v as Int64: box.node = .int(v)
    case let v as Int32: box.node = .int(Int64(v))
    case let v as UInt64: box.node = .uint(v)
    case let v as UInt: box.node = .uint(UInt64(v))
    case let v as UInt32: box.node = .uint(UInt64(v))
    case let v as Double: box.node = .double(v)
    default:
        if let special = try JSONTree.special(value) {
            box.node = special
            return
        }
        try value.encode(to: TreeEncoder(codingPath: codingPath, target: box))
    }
}

struct TreeKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: NodeBox
    let codingPath: [any CodingKey]

    func child(_ key: Key) -> NodeBox {
        let child = NodeBox()
        box.members![key.stringValue] = child
        return child
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).node = .null }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).node = .bool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).node = .string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(key).node = .double(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).node = .int(Int64(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).node = .int(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { child(key).node = .uint(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeNode(value, into: child(key), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = child(key)
        child.members = [:]
        return KeyedEncodingContainer(TreeKeyedContainer<NestedKey>(box: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = child(key)
        child.items = []
        return TreeUnkeyedContainer(box: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(codingPath: codingPath, target: child(Key(stringValue: "super")!)) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(codingPath: codingPath + [key], target: child(key)) }
}

struct TreeUnkeyedContainer: UnkeyedEncodingContainer {
    let box: NodeBox
    let codingPath: [any CodingKey]
    var count: Int { box.items!.count }

    func next() -> NodeBox {
        let child = NodeBox()
        box.items!.append(child)
        return child
    }

    mutating func encodeNil() throws { next().node = .null }
    mutating func encode(_ value: Bool) throws { next().node = .bool(value) }
    mutating func encode(_ value: String) throws { next().node = .string(value) }
    mutating func encode(_ value: Double) throws { next().node = .double(value) }
    mutating func encode(_ value: Int) throws { next().node = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { next().node = .int(value) }
    mutating func encode(_ value: UInt64) throws { next().node = .uint(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeNode(value, into: next(), codingPath: codingPath) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = next()
        child.members = [:]
        return KeyedEncodingContainer(TreeKeyedContainer<NestedKey>(box: child, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = next()
        child.items = []
        return TreeUnkeyedContainer(box: child, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(codingPath: codingPath, target: next()) }
}

struct TreeSingleContainer: SingleValueEncodingContainer {
    let box: NodeBox
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { box.node = .null }
    mutating func encode(_ value: Bool) throws { box.node = .bool(value) }
    mutating func encode(_ value: String) throws { box.node = .string(value) }
    mutating func encode(_ value: Double) throws { box.node = .double(value) }
    mutating func encode(_ value: Float) throws { box.node = .double(Double(value.description)!) }
    mutating func encode(_ value: Int) throws { box.node = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { box.node = .int(value) }
    mutating func encode(_ value: UInt64) throws { box.node = .uint(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeNode(value, into: box, codingPath: codingPath) }
}
