/// Administrative division codes (GB/T 2260 with the statistical 9- and 12-digit extensions).
///
/// A county has 6 digits (`371312`), a township (乡镇/街道) 9 (`371312001`), a village (村/社区) 12
/// (`371312001201`). Each code knows its parent. Codes are validated on construction.
public enum DivisionLevel: String, Codable, Sendable, CaseIterable, Comparable {
    case county, township, village

    /// Number of digits of a code of this level.
    public var digitCount: Int {
        switch self {
        case .county: 6
        case .township: 9
        case .village: 12
        }
    }

    private var rank: Int { DivisionLevel.allCases.firstIndex(of: self)! }
    public static func < (lhs: DivisionLevel, rhs: DivisionLevel) -> Bool { lhs.rank < rhs.rank }
}

/// The province-level prefixes GB/T 2260 assigns (11 Beijing … 82 Macao).
let provincePrefixes: Set<String> = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82",
]

/// A validated division code of any level.
public struct DivisionCode: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let rawValue: String
    public let level: DivisionLevel

    /// Validates `rawValue` as a county, township or village code.
    /// - Throws: `ValidationError` with code `invalid_division_code` naming what is wrong.
    public init(_ rawValue: String, field: String? = nil) throws(ValidationError) {
        guard rawValue.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ValidationError(
                .invalidDivisionCode, "Division code \"\(rawValue)\" must contain digits only.", field: field)
        }
        guard let level = DivisionLevel.allCases.first(where: { $0.digitCount == rawValue.utf8.count }) else {
            throw ValidationError(
                .invalidDivisionCode,
                "Division code \"\(rawValue)\" has \(rawValue.utf8.count) digits; a county has 6, a township 9, a village 12.",
                field: field)
        }
        let province = String(rawValue.prefix(2))
        guard provincePrefixes.contains(province) else {
            throw ValidationError(
                .invalidDivisionCode, "Division code \"\(rawValue)\" starts with \(province), which is no province.",
                field: field)
        }
        // Within GB/T 2260 the prefecture and county parts are never 00 for a county.
        let digits = Array(rawValue.utf8)
        if digits[4] == 0x30 && digits[5] == 0x30 {
            throw ValidationError(
                .invalidDivisionCode, "Division code \"\(rawValue)\" names a prefecture (ends in 00), not a county.",
                field: field)
        }
        if level >= .township && rawValue.dropFirst(6).prefix(3) == "000" {
            throw ValidationError(
                .invalidDivisionCode, "Township part of \"\(rawValue)\" is 000, which no township has.", field: field)
        }
        if level == .village && rawValue.suffix(3) == "000" {
            throw ValidationError(
                .invalidDivisionCode, "Village part of \"\(rawValue)\" is 000, which no village has.", field: field)
        }
        self.rawValue = rawValue
        self.level = level
    }

    /// Validates `rawValue` and requires it to be of `level`.
    public init(_ rawValue: String, level: DivisionLevel, field: String? = nil) throws(ValidationError) {
        let code = try DivisionCode(rawValue, field: field)
        guard code.level == level else {
            throw ValidationError(
                .wrongDivisionLevel,
                "\"\(rawValue)\" is a \(code.level.rawValue) code; a \(level.rawValue) code (\(level.digitCount) digits) is required here.",
                field: field)
        }
        self = code
    }

    /// The enclosing division: a village's township, a township's county; `nil` for a county.
    public var parent: DivisionCode? {
        switch level {
        case .county: nil
        case .township: try? DivisionCode(String(rawValue.prefix(6)))
        case .village: try? DivisionCode(String(rawValue.prefix(9)))
        }
    }

    /// The county this code lies in (itself for a county).
    public var county: DivisionCode { level == .county ? self : (try! DivisionCode(String(rawValue.prefix(6)))) }

    /// The township this code lies in; `nil` for a county.
    public var township: DivisionCode? {
        level == .county ? nil : (try! DivisionCode(String(rawValue.prefix(9))))
    }

    /// Whether `other` equals this division or lies inside it.
    public func contains(_ other: DivisionCode) -> Bool {
        guard other.level >= level else { return false }
        if other.level == level { return other.rawValue == rawValue }
        return other.rawValue.utf8.starts(with: rawValue.utf8)
    }

    public var description: String { rawValue }
    public static func < (lhs: DivisionCode, rhs: DivisionCode) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do { self = try DivisionCode(raw) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A named division (a row of a division list).
public struct Division: Hashable, Sendable, Codable {
    public var code: DivisionCode
    public var name: String
    /// True for codes this project generated (no public village list exists for the sample counties).
    public var synthetic: Bool
    /// The area the division covers, when the county has one for it (generated villages do: their grid
    /// cell). Alerts are placed in villages by it (`AlertPlacement`); see docs/decisions/006.
    public var boundary: Polygon?

    public init(code: DivisionCode, name: String, synthetic: Bool = false, boundary: Polygon? = nil) {
        self.code = code
        self.name = name
        self.synthetic = synthetic
        self.boundary = boundary
    }
}

/// A jurisdiction a writer or reader is bound to: a whole county, one township, or a set of villages.
///
/// JSON: `{"county": "371312"}`, `{"township": "371312001"}` or `{"villages": ["371312001201", …]}`.
public enum Jurisdiction: Hashable, Sendable, Codable {
    case county(DivisionCode)
    case township(DivisionCode)
    case villages(Set<DivisionCode>)

    /// Whether a record located at `code` (a village or township) lies inside this jurisdiction.
    public func covers(_ code: DivisionCode) -> Bool {
        switch self {
        case .county(let county): county.contains(code)
        case .township(let township): township.contains(code)
        // Villages are the finest level: a code lies in one of them only by being it.
        case .villages(let villages): code.level == .village && villages.contains(code)
        }
    }
}

extension Jurisdiction {
    private enum Keys: String, CodingKey { case county, township, villages }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        if let county = try container.decodeIfPresent(DivisionCode.self, forKey: .county) {
            guard county.level == .county else {
                throw DecodingError.dataCorruptedError(forKey: .county, in: container, debugDescription: "\(county) is not a county code.")
            }
            self = .county(county)
        } else if let township = try container.decodeIfPresent(DivisionCode.self, forKey: .township) {
            guard township.level == .township else {
                throw DecodingError.dataCorruptedError(forKey: .township, in: container, debugDescription: "\(township) is not a township code.")
            }
            self = .township(township)
        } else if let villages = try container.decodeIfPresent([DivisionCode].self, forKey: .villages) {
            guard !villages.isEmpty, villages.allSatisfy({ $0.level == .village }) else {
                throw DecodingError.dataCorruptedError(forKey: .villages, in: container, debugDescription: "villages must be a non-empty list of 12-digit codes.")
            }
            self = .villages(Set(villages))
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "A jurisdiction is {\"county\": …}, {\"township\": …} or {\"villages\": […]}."))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .county(let code): try container.encode(code, forKey: .county)
        case .township(let code): try container.encode(code, forKey: .township)
        case .villages(let codes): try container.encode(codes.sorted(), forKey: .villages)
        }
    }
}
