import Foundation
import Testing
import TianzhangDomain
import TianzhangReference
import TianzhangSeed
import TianzhangSync

/// `JSONValueDecoder` must decode exactly what `JSONDecoder` decodes from the same value's canonical JSON,
/// and fail where it fails; where `JSONDecoder` reports a missing key, it must report the same key at the
/// same coding path (admission's "field … is missing" and "has the wrong type" messages depend on it).
/// For dictionaries only success and failure are compared: which member fails first depends on
/// iteration order.
@Suite("JSONValueDecoder agrees with JSONDecoder")
struct JSONValueDecoderTests {
    enum Outcome<T: Equatable>: Equatable {
        case value(T)
        case failure(kind: String, path: [String])
    }

    static func outcome<T: Equatable>(_ body: () throws -> T) -> Outcome<T> {
        do { return .value(try body()) } catch let error as DecodingError {
            switch error {
            case .keyNotFound(let key, let context): return .failure(kind: "keyNotFound \(key.stringValue)", path: context.codingPath.map(\.stringValue))
            case .typeMismatch(_, let context): return .failure(kind: "typeMismatch", path: context.codingPath.map(\.stringValue))
            case .valueNotFound(_, let context): return .failure(kind: "valueNotFound", path: context.codingPath.map(\.stringValue))
            case .dataCorrupted(let context): return .failure(kind: "dataCorrupted", path: context.codingPath.map(\.stringValue))
            @unknown default: return .failure(kind: "unknown", path: [])
            }
        } catch {
            return .failure(kind: "other \(type(of: error))", path: [])
        }
    }

    /// Both decoders on one value: the same outcome. - Returns: whether the value decoded.
    @discardableResult
    static func agree<T: Decodable & Equatable>(_ type: T.Type, _ value: JSONValue, _ note: String, strict: Bool = true) -> Bool {
        let expected = outcome { try JSONDecoder().decode(T.self, from: Canonical.data(value)) }
        let actual = outcome { try JSONValueDecoder().decode(T.self, from: value) }
        switch (expected, actual) {
        case (.failure, .failure) where !strict: break
        default: #expect(actual == expected, "\(T.self) \(note): \(value.canonicalText.prefix(300))")
        }
        if case .value = expected { return true }
        return false
    }

    static func randomValue(_ random: inout SplitMix64, depth: Int = 0) -> JSONValue {
        switch random.next() % (depth > 2 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(random.next() % 2 == 0)
        case 2: return .number([0, 1, -3, 2.5, 1e300, 371312001201, -0.25, 4_294_967_296][Int(random.next() % 8)])
        case 3: return .string(["", "371312001201", "parcel", "reported", "甲", "2026-12-04", "0101"][Int(random.next() % 7)])
        case 4: return .array((0..<Int(random.next() % 4)).map { _ in randomValue(&random, depth: depth + 1) })
        default:
            return .object(Dictionary((0..<Int(random.next() % 4)).map { n in ("k\(n)", randomValue(&random, depth: depth + 1)) }) { a, _ in a })
        }
    }

    /// `value` with one member (at any depth) removed, set to null, or replaced by a random value.
    static func mutate(_ value: JSONValue, _ random: inout SplitMix64) -> JSONValue {
        switch value {
        case .object(var members) where !members.isEmpty:
            let keys = members.keys.sorted()
            let key = keys[Int(random.next() % UInt64(keys.count))]
            switch random.next() % 4 {
            case 0: members[key] = nil
            case 1: members[key] = .null
            case 2: members[key] = randomValue(&random)
            default: members[key] = mutate(members[key]!, &random)
            }
            return .object(members)
        case .array(var items) where !items.isEmpty:
            let index = Int(random.next() % UInt64(items.count))
            if random.next() % 3 == 0 { items.remove(at: index) } else { items[index] = mutate(items[index], &random) }
            return .array(items)
        default:
            return randomValue(&random)
        }
    }

    static func county() throws -> GeneratedCounty {
        let generator = CountyGenerator(configuration: .init(seed: 11, villagesPerTownship: 2...2, parcelsPerVillage: 4...4, casesPerTownship: 6), landClasses: try ReferenceData.landClasses())
        return generator.generate(try ReferenceData.county("371312"))
    }

    @Test("generated parcels, cases, chiefs and divisions decode to the same values; 4,000 mutations fail or succeed alike")
    func domainValues() throws {
        let county = try Self.county()
        var random = SplitMix64(seed: 20261204)
        var decodedMutations = 0, failedMutations = 0
        func check<T: Codable & Equatable>(_ values: [T]) {
            #expect(!values.isEmpty)
            for value in values {
                let json = JSONValue(encoding: value)
                #expect(Self.agree(T.self, json, "as generated"))
                #expect((try? JSONValueDecoder().decode(T.self, from: json)) == value)
                for n in 0..<(4_000 / values.count / 4 + 1) {
                    if Self.agree(T.self, Self.mutate(json, &random), "mutation \(n)") { decodedMutations += 1 } else { failedMutations += 1 }
                }
            }
        }
        check(county.parcels)
        check(county.cases)
        check(county.chiefs)
        check(county.villages + county.townships)
        // Both kinds of outcome were exercised, so the comparison of failures means something.
        #expect(decodedMutations > 100)
        #expect(failedMutations > 100)
    }

    @Test("random JSON values as JSONValue, dictionaries, arrays, optionals and numbers")
    func randomValues() {
        var random = SplitMix64(seed: 7)
        for n in 0..<2_000 {
            let value = Self.randomValue(&random)
            Self.agree(JSONValue.self, value, "\(n)")
            Self.agree([String: JSONValue].self, value, "\(n)", strict: false)
            Self.agree([JSONValue?].self, value, "\(n)")
            Self.agree([Int].self, value, "\(n)")
            Self.agree([String: Double].self, value, "\(n)", strict: false)
            Self.agree(UInt64.self, value, "\(n)")
            Self.agree(Bool?.self, value, "\(n)")
            Self.agree(Timestamp.self, value, "\(n)")
        }
    }
}
