import Foundation
import Testing
import TianzhangDomain
@testable import TianzhangSync
import TianzhangTesting

/// `JSONTree` must write exactly the bytes `JSONEncoder` writes with the project's options: signatures and
/// digests are over them, and stores compare them.
@Suite("JSONTree: the canonical bytes without JSONEncoder")
struct JSONTreeTests {
    static func foundation<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static let alphabet: [String] = ["a", "B", "z", "0", "9", "_", "-", "/", "\"", "\\", "\n", "\t", "\u{1}", "\u{1f}", "\u{7f}", " ", "é", "中", "文", "村", "😀", "\u{2028}", "ａ"]

    static func string(_ random: inout SplitMix64) -> String {
        (0..<Int(random.next() % 8)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }.joined()
    }

    static func number(_ random: inout SplitMix64) -> Double {
        switch random.next() % 7 {
        case 0: return Double(Int64(bitPattern: random.next()) % 1_000_000)
        case 1: return Double(random.next() % 100_000) / 1_000
        case 2: return 118 + Double(random.next() % 10_000_000) * 1e-7
        case 3: return Double(bitPattern: random.next() & 0x7FEF_FFFF_FFFF_FFFF) * (random.next() % 2 == 0 ? 1 : -1)
        case 4: return pow(10, Double(Int(random.next() % 60) - 30)) * Double(random.next() % 9 + 1)
        case 5: return [0.0, -0.0, 9_007_199_254_740_992, 9_007_199_254_740_993, 1e21, 5e-324, 0.1, 1e-7][Int(random.next() % 8)]
        default: return Double(random.next() % 1_000) + 0.5
        }
    }

    static func value(_ random: inout SplitMix64, depth: Int = 0) -> JSONValue {
        switch random.next() % (depth > 3 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(random.next() % 2 == 0)
        case 2: return .number(number(&random))
        case 3: return .string(string(&random))
        case 4: return .array((0..<Int(random.next() % 5)).map { _ in value(&random, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int(random.next() % 5) { members[string(&random)] = value(&random, depth: depth + 1) }
            return .object(members)
        }
    }

    @Test("random JSON values: the same bytes as JSONEncoder, and the same value as decoding them")
    func randomValues() throws {
        var random = SplitMix64(seed: 20261203)
        for index in 0..<5_000 {
            let value = Self.value(&random)
            let expected = try Self.foundation(value)
            #expect(try JSONTree.data(value) == expected, "value \(index): \(String(decoding: expected, as: UTF8.self))")
            #expect(try JSONTree.value(value) == (try JSONDecoder().decode(JSONValue.self, from: expected)))
        }
    }

    struct Mixed: Codable {
        var seq: UInt64
        var big: UInt64
        var small: Int
        var negative: Int64
        var ratio: Double
        var whole: Double
        var name: String
        var optional: String?
        var absent: Int?
        var flags: [Bool]
        var nested: [String: [Int]]
        var blob: Data
        var json: JSONValue
        var list: [JSONValue]
    }

    @Test("structs with optional members, unsigned integers past 2^53, Data and nested JSON values: the same bytes as JSONEncoder")
    func structs() throws {
        var random = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let mixed = Mixed(
                seq: random.next() % 1_000_000, big: random.next(), small: Int(random.next() % 100), negative: -Int64(random.next() % 1_000_000_000_000),
                ratio: Self.number(&random), whole: Double(random.next() % 1000), name: Self.string(&random),
                optional: random.next() % 2 == 0 ? nil : Self.string(&random), absent: nil, flags: [true, false],
                nested: [Self.string(&random): [1, 2, 3], "b": []], blob: Data((0..<Int(random.next() % 20)).map { _ in UInt8(random.next() & 0xFF) }),
                json: Self.value(&random), list: [Self.value(&random), .null])
            let expected = try Self.foundation(mixed)
            #expect(try JSONTree.data(mixed) == expected, "\(String(decoding: expected, as: UTF8.self))")
        }
    }

    @Test("every message and change vector in Protocol/: the same bytes as JSONEncoder")
    func protocolVectors() throws {
        var checked = 0
        for folder in ["messages", "merge", "admission", "signatures"] {
            for file in Vectors.files(folder) {
                let vector = try Vectors.load(folder, file)
                #expect(try JSONTree.data(vector) == (try Self.foundation(vector)), "\(folder)/\(file)")
                for change in (try? Vectors.changes(vector["changes"])) ?? [] {
                    #expect(try JSONTree.data(change) == (try Self.foundation(change)), "\(folder)/\(file) \(change.id)")
                    checked += 1
                }
            }
        }
        #expect(checked > 10)
        let polygon = LargePolygons.largest(rings: 5)
        #expect(try JSONTree.data(polygon) == (try Self.foundation(polygon)))
        #expect(throws: (any Error).self) { try JSONTree.data([Double.nan]) }
    }

    @Test("JSONParser reads what JSONDecoder reads: random values (also pretty-printed and escaped), every change vector, and refuses bad text")
    func parserAgreesWithJSONDecoder() throws {
        var random = SplitMix64(seed: 20261204)
        for index in 0..<5_000 {
            let value = Self.value(&random)
            let compact = try Self.foundation(value)
            let pretty: Data = try {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                return try encoder.encode(value)
            }()
            let expected = try JSONDecoder().decode(JSONValue.self, from: compact)
            #expect(try JSONParser.parse(String(decoding: compact, as: UTF8.self)) == expected, "value \(index)")
            #expect(try JSONParser.parse(String(decoding: pretty, as: UTF8.self)) == expected, "value \(index), pretty")
        }
        #expect(try JSONParser.parse(#""\u00e9\ud83d\ude00\/\b""#) == .string("é😀/\u{8}"))
        for bad in ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"\u{1}\"", "\"\\ud800\"", "1 2", "[1] x", "{1:2}", "\"abc", "nan", "1e400"] {
            #expect(throws: JSONParser.Malformed.self, "\(bad)") { try JSONParser.parse(bad) }
        }
        var checked = 0
        for folder in ["messages", "merge", "admission", "signatures"] {
            for file in Vectors.files(folder) {
                for change in (try? Vectors.changes(try Vectors.load(folder, file)["changes"])) ?? [] {
                    let stored = try StoredJSON.text(change)
                    #expect(try Change(stored: stored) == (try StoredJSON.decode(Change.self, stored)), "\(folder)/\(file) \(change.id)")
                    checked += 1
                }
            }
        }
        #expect(checked > 10)
    }
}
