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
/// After villages moved between townships (`hub move-village`), a township credential is re-bound as
/// `{"township": "371312001", "addedVillages": […], "removedVillages": […]}` (a village keeps its code
/// when it moves, so its code no longer says which township it belongs to).
public enum Jurisdiction: Hashable, Sendable, Codable {
    case county(DivisionCode)
    case township(DivisionCode)
    case villages(Set<DivisionCode>)
    /// A township plus villages moved into it, minus villages moved out of it. Build it with
    /// `Jurisdiction.township(_:adding:removing:)`, which keeps the plain `.township` when nothing moved.
    case adjustedTownship(DivisionCode, added: Set<DivisionCode>, removed: Set<DivisionCode>)

    /// Whether a record located at `code` (a village or township) lies inside this jurisdiction.
    public func covers(_ code: DivisionCode) -> Bool {
        switch self {
        case .county(let county): county.contains(code)
        case .township(let township): township.contains(code)
        // Villages are the finest level: a code lies in one of them only by being it.
        case .villages(let villages): code.level == .village && villages.contains(code)
        case .adjustedTownship(let township, let added, let removed):
            !removed.contains(code) && (added.contains(code) || township.contains(code))
        }
    }
}

extension Jurisdiction {
    private enum Keys: String, CodingKey { case county, township, villages, addedVillages, removedVillages }

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
            let added = try container.decodeIfPresent([DivisionCode].self, forKey: .addedVillages) ?? []
            let removed = try container.decodeIfPresent([DivisionCode].self, forKey: .removedVillages) ?? []
            for (key, codes) in [(Keys.addedVillages, added), (Keys.removedVillages, removed)] where !codes.allSatisfy({ $0.level == .village }) {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(key.stringValue) must list 12-digit village codes.")
            }
            if let inside = added.first(where: township.contains) {
                throw DecodingError.dataCorruptedError(forKey: .addedVillages, in: container, debugDescription: "\(inside) lies in \(township) already; only villages moved in from another township are added.")
            }
            if let outside = removed.first(where: { !township.contains($0) }) {
                throw DecodingError.dataCorruptedError(forKey: .removedVillages, in: container, debugDescription: "\(outside) does not lie in \(township); only its own villages can be removed.")
            }
            self = .township(township, adding: Set(added), removing: Set(removed))
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
        case .adjustedTownship(let code, let added, let removed):
            try container.encode(code, forKey: .township)
            if !added.isEmpty { try container.encode(added.sorted(), forKey: .addedVillages) }
            if !removed.isEmpty { try container.encode(removed.sorted(), forKey: .removedVillages) }
        }
    }
}

// MARK: - Village moves

extension Jurisdiction {
    /// A township with villages moved in and out; `.township(township)` when both sets are empty.
    public static func township(_ township: DivisionCode, adding added: Set<DivisionCode>, removing removed: Set<DivisionCode>) -> Jurisdiction {
        let added = added.filter { !township.contains($0) }
        let removed = removed.filter { township.contains($0) }
        return added.isEmpty && removed.isEmpty ? .township(township) : .adjustedTownship(township, added: added, removed: removed)
    }

    /// The township a township jurisdiction is built on; `nil` for a county or a set of villages.
    public var baseTownship: DivisionCode? {
        switch self {
        case .township(let code), .adjustedTownship(let code, _, _): code
        case .county, .villages: nil
        }
    }

    /// This jurisdiction after `village` moved to `township`: the township the village now belongs to
    /// covers it; every other township jurisdiction does not. County and village-set jurisdictions do not
    /// change (a village keeps its code, so a patrol bound to it still covers it).
    public func moving(village: DivisionCode, to township: DivisionCode) -> Jurisdiction {
        let (base, added, removed): (DivisionCode, Set<DivisionCode>, Set<DivisionCode>)
        switch self {
        case .county, .villages: return self
        case .township(let code): (base, added, removed) = (code, [], [])
        case .adjustedTownship(let code, let plus, let minus): (base, added, removed) = (code, plus, minus)
        }
        if base == township {
            return .township(base, adding: added.union([village]), removing: removed.subtracting([village]))
        }
        return .township(base, adding: added.subtracting([village]), removing: removed.union([village]))
    }
}
