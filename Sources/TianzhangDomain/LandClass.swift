/// A GB/T 21010-2017 land-use class (土地利用现状分类), e.g. `0101` 水田 (paddy field).
public struct LandClass: Hashable, Sendable, Codable {
    /// Four digits for a class (`0101`), two for a group (`01` 耕地).
    public var code: String
    public var name: String
    /// The two-digit group of a class; `nil` for a group.
    public var groupCode: String?

    public init(code: String, name: String, groupCode: String?) {
        self.code = code
        self.name = name
        self.groupCode = groupCode
    }

    /// Whether this class is cultivated land (耕地, group 01).
    public var isCultivated: Bool { code.hasPrefix("01") }
}

/// The code list of GB/T 21010-2017, parsed from the project's copy of the real list.
public struct LandClassCatalog: Sendable {
    public let classes: [String: LandClass]

    public init(_ classes: [LandClass]) {
        self.classes = Dictionary(classes.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Parses CSV text with the header `code,name,parent_group,parent_group_name`.
    /// - Throws: `ValidationError` (`invalid_value`) naming the line that does not parse.
    public init(csv: String) throws(ValidationError) {
        var result: [LandClass] = []
        for (index, line) in csv.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let columns = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard columns.count >= 3, !columns[0].isEmpty, !columns[1].isEmpty else {
                throw ValidationError(.invalidValue, "Land-class list line \(index + 1) does not parse: \(line)")
            }
            result.append(LandClass(code: columns[0], name: columns[1], groupCode: columns[2].isEmpty ? nil : columns[2]))
        }
        self.init(result)
    }

    /// Looks up a four-digit class code.
    /// - Throws: `ValidationError` (`unknown_land_class`) when the code is not a GB/T 21010-2017 class.
    public func landClass(_ code: String, field: String? = "landClass") throws(ValidationError) -> LandClass {
        guard let found = classes[code], found.groupCode != nil else {
            let hint = classes[code] != nil ? " is a group, not a class; use a four-digit class code" : " is not in GB/T 21010-2017"
            throw ValidationError(.unknownLandClass, "Land class \"\(code)\"\(hint).", field: field)
        }
        return found
    }
}
