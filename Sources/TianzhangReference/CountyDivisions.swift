import TianzhangDomain

/// A county and its townships, as listed in a division file (`code,name,level,parent_code`).
public struct CountyDivisions: Hashable, Sendable {
    public init(county: Division, townships: [Division]) {
        self.county = county
        self.townships = townships
    }

    public var county: Division
    /// In code order.
    public var townships: [Division]

    /// Parses a county file in the format of `divisions-371312-hedong.csv`: one `county` row, then its
    /// `township` rows. Works for any county in that format.
    /// - Throws: `ValidationError` naming the line: a malformed code, a township outside the county,
    ///   a duplicate code, an unknown level, no county row.
    public init(csv: String) throws(ValidationError) {
        var county: Division?
        var townships: [Division] = []
        var seen: Set<String> = []
        let lines = csv.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (index, rawLine) in lines.enumerated() where index > 0 {
            let line = rawLine.trimmingCharacters(in: " \r\t")
            if line.isEmpty { continue }
            let columns = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let where_ = "line \(index + 1)"
            guard columns.count >= 4 else {
                throw ValidationError(.invalidValue, "\(where_): expected code,name,level,parent_code; got \"\(line)\".", field: where_)
            }
            guard seen.insert(columns[0]).inserted else {
                throw ValidationError(.invalidDivisionCode, "\(where_): code \(columns[0]) appears twice.", field: where_)
            }
            do throws(ValidationError) {
                try Self.parseRow(columns, where_: where_, county: &county, townships: &townships)
            } catch {
                var located = error
                if !located.message.hasPrefix(where_) { located.message = "\(where_): \(located.message)" }
                throw located
            }
        }
        guard let county else { throw ValidationError(.missingField, "The file has no county row.") }
        self.county = county
        self.townships = townships.sorted { $0.code < $1.code }
    }

    private static func parseRow(_ columns: [String], where_: String, county: inout Division?, townships: inout [Division]) throws(ValidationError) {
            switch columns[2] {
            case "county":
                guard county == nil else { throw ValidationError(.invalidValue, "\(where_): a second county row; one file holds one county.", field: where_) }
                county = Division(code: try DivisionCode(columns[0], level: .county, field: where_), name: columns[1])
            case "township":
                let code = try DivisionCode(columns[0], level: .township, field: where_)
                guard code.parent?.rawValue == columns[3] else {
                    throw ValidationError(.invalidDivisionCode, "\(where_): township \(code) names parent \(columns[3]), but its code lies in \(code.parent?.rawValue ?? "?").", field: where_)
                }
                if let county, code.parent != county.code {
                    throw ValidationError(.invalidDivisionCode, "\(where_): township \(code) \(columns[1]) does not lie in county \(county.code).", field: where_)
                }
                townships.append(Division(code: code, name: columns[1]))
            default:
                throw ValidationError(.invalidValue, "\(where_): level \"\(columns[2])\" is not county or township.", field: where_)
            }
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
