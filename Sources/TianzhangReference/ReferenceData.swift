import Foundation
import TianzhangDomain

/// The real reference data shipped with the project (copied from `shared/data/`, never retyped):
/// GB/T 21010-2017 land classes and the division lists of two Shandong counties.
public enum ReferenceData {
    /// Counties whose division file is bundled.
    public static let bundledCounties = ["371312": "divisions-371312-hedong.csv", "371525": "divisions-371525-guanxian.csv"]

    static func text(_ file: String) throws -> String {
        guard let folder = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw ValidationError(.missingField, "The bundled reference data folder is missing from this build.")
        }
        return try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
    }

    /// The GB/T 21010-2017 land-use classification (12 groups, 73 classes).
    public static func landClasses() throws -> LandClassCatalog {
        try LandClassCatalog(csv: text("land-classes-gbt21010-2017.csv"))
    }

    /// A bundled county's division list.
    /// - Throws: `ValidationError` (`invalid_division_code`) for a county that is not bundled.
    public static func county(_ code: String) throws -> CountyDivisions {
        guard let file = bundledCounties[code] else {
            throw ValidationError(.invalidDivisionCode, "County \(code) is not bundled (bundled: \(bundledCounties.keys.sorted().joined(separator: ", "))); pass a division file with --divisions.")
        }
        return try CountyDivisions(csv: text(file))
    }

    /// A county read from a division file in the same format.
    public static func county(file path: String) throws -> CountyDivisions {
        try CountyDivisions(csv: String(contentsOfFile: path, encoding: .utf8))
    }
}
