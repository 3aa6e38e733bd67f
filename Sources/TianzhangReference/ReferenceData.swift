import Foundation
import TianzhangDomain

/// The real reference data shipped with the project (copied from `shared/data/`, never retyped):
/// GB/T 21010-2017 land classes and the division lists of two Shandong counties.
///
/// ```swift
/// let catalog = try ReferenceData.landClasses()
/// let hedong = try ReferenceData.countyFile(code: "371312")   // 河东区 and its 11 townships
/// ```
public enum ReferenceData {
    /// Counties whose division file is bundled: code → file name in `Resources/`.
    public static let bundledCounties = ["371312": "divisions-371312-hedong.csv", "371525": "divisions-371525-guanxian.csv"]

    /// The land-class file's name in `Resources/`.
    public static let landClassFile = "land-classes-gbt21010-2017.csv"

    /// The text of a bundled resource file.
    /// - Throws: `ValidationError` (`missing_field`) when the resource folder or file is missing from this build.
    static func text(_ file: String) throws -> String {
        guard let folder = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw ValidationError(.missingField, "The bundled reference data folder (Resources) is missing from this build.")
        }
        let url = folder.appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError(.missingField, "The bundled reference file \(file) is missing from \(folder.path).")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The GB/T 21010-2017 land-use classification (12 groups, 73 classes).
    /// - Throws: `ValidationError` when the bundled file is missing or a line does not parse.
    public static func landClasses() throws -> LandClassCatalog {
        try LandClassCatalog(csv: text(landClassFile))
    }

    /// A bundled county's division list (371312 河东区, 371525 冠县).
    /// - Parameter code: the six-digit county code.
    /// - Throws: `ValidationError` (`invalid_division_code`) for a county that is not bundled, or the
    ///   parser's error naming the line.
    public static func countyFile(code: String) throws -> CountyDivisions {
        guard let file = bundledCounties[code] else {
            throw ValidationError(
                .invalidDivisionCode,
                "County \(code) is not bundled (bundled: \(bundledCounties.keys.sorted().joined(separator: ", "))); pass a division file with --divisions.",
                field: "county")
        }
        return try CountyDivisions(csv: text(file))
    }

    /// The same as `countyFile(code:)`.
    public static func county(_ code: String) throws -> CountyDivisions { try countyFile(code: code) }

    /// A county read from a division file in the same format, anywhere on disk.
    /// - Throws: a file-system error, or the parser's `ValidationError` naming the line.
    public static func county(file path: String) throws -> CountyDivisions {
        try CountyDivisions(csv: String(contentsOfFile: path, encoding: .utf8))
    }
}
