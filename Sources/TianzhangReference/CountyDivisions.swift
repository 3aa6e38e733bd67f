import TianzhangDomain

/// A county and its townships (乡镇/街道), as listed in a division file (`code,name,level,parent_code`).
///
/// ```swift
/// let hedong = try CountyDivisions(csv: """
///     code,name,level,parent_code
///     371312,河东区,county,3713
///     371312001,九曲街道,township,371312
///     """)
/// hedong.townships.map(\.name)   // ["九曲街道"]
/// ```
public struct CountyDivisions: Hashable, Sendable {
    public init(county: Division, townships: [Division]) {
        self.county = county
        self.townships = townships
    }

    public var county: Division
    /// In code order.
    public var townships: [Division]

    /// The header every division file starts with.
    public static let header = "code,name,level,parent_code"

    /// Parses a county file in the format of `divisions-371312-hedong.csv`: the header, one `county`
    /// row, and its `township` rows, in any order. Works for any county in that format.
    ///
    /// Every code is checked with `DivisionCode`; a township must name the county as its parent and its
    /// code must lie in it; a code may appear once. Errors name the line (1-based, the header is line 1)
    /// in both the message and `field` (`"line 4"`).
    /// - Parameter csv: the file's text (UTF-8, a leading byte-order mark is ignored; LF or CRLF).
    /// - Throws: `ValidationError`: `invalid_value` for a missing header, a short row, an empty name or
    ///   an unknown level; `invalid_division_code` / `wrong_division_level` for a malformed code, a
    ///   township outside the county and a duplicate code; `missing_field` when there is no county row.
    public init(csv: String) throws(ValidationError) {
        var county: (division: Division, line: Int)?
        var townships: [(division: Division, parent: String, line: Int)] = []
        var seen: [String: Int] = [:]
        let lines = csv.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        let headerText = lines.first.map { String($0).trimmed(" \r\t\u{FEFF}") } ?? ""
        guard headerText == Self.header else {
            throw ValidationError(
                .invalidValue, "line 1: a division file starts with the header \"\(Self.header)\", not \"\(headerText)\".", field: "line 1")
        }
        for (index, rawLine) in lines.enumerated() where index > 0 {
            let line = String(rawLine).trimmed(" \r\t")
            if line.isEmpty { continue }
            let number = index + 1
            let location = "line \(number)"
            let columns = line.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed(" \t") }
            guard columns.count == 4 else {
                throw ValidationError(.invalidValue, "\(location): expected 4 columns (code,name,level,parent_code); got \(columns.count) in \"\(line)\".", field: location)
            }
            let (code, name, level, parent) = (columns[0], columns[1], columns[2], columns[3])
            guard !name.isEmpty else {
                throw ValidationError(.invalidValue, "\(location): division \(code) has no name.", field: location)
            }
            if let earlier = seen[code] {
                throw ValidationError(.invalidDivisionCode, "\(location): code \(code) appears twice (first on line \(earlier)).", field: location)
            }
            seen[code] = number
            switch level {
            case "county":
                if let county {
                    throw ValidationError(.invalidValue, "\(location): a second county row (the first is on line \(county.line)); one file holds one county.", field: location)
                }
                let countyCode = try Self.code(code, level: .county, at: location)
                guard parent == String(code.prefix(4)) else {
                    throw ValidationError(.invalidDivisionCode, "\(location): county \(code) names parent \(parent), but its code lies in prefecture \(code.prefix(4)).", field: location)
                }
                county = (Division(code: countyCode, name: name), number)
            case "township":
                let townshipCode = try Self.code(code, level: .township, at: location)
                guard townshipCode.parent?.rawValue == parent else {
                    throw ValidationError(.invalidDivisionCode, "\(location): township \(code) \(name) names parent \(parent), but its code lies in county \(code.prefix(6)).", field: location)
                }
                townships.append((Division(code: townshipCode, name: name), parent, number))
            default:
                throw ValidationError(.invalidValue, "\(location): level \"\(level)\" is not county or township.", field: location)
            }
        }
        guard let county else {
            throw ValidationError(.missingField, "The file has no county row (a row whose level is county).")
        }
        // Checked after the loop, so a township listed before its county is held to the same rule.
        if let stray = townships.first(where: { $0.parent != county.division.code.rawValue }) {
            let location = "line \(stray.line)"
            throw ValidationError(
                .invalidDivisionCode,
                "\(location): township \(stray.division.code) \(stray.division.name) does not lie in county \(county.division.code) \(county.division.name) (line \(county.line)).",
                field: location)
        }
        self.county = county.division
        self.townships = townships.map(\.division).sorted { $0.code < $1.code }
    }

    /// Validates a code of `level`, prefixing the error's message with the line.
    private static func code(_ raw: String, level: DivisionLevel, at location: String) throws(ValidationError) -> DivisionCode {
        do {
            return try DivisionCode(raw, level: level, field: location)
        } catch {
            var located = error
            located.message = "\(location): \(error.message)"
            throw located
        }
    }
}

extension String {
    /// The string without leading and trailing characters of `set`.
    fileprivate func trimmed(_ set: String) -> String {
        var scalars = Substring(self).unicodeScalars
        while let first = scalars.first, set.unicodeScalars.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.unicodeScalars.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}
