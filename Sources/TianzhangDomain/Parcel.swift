/// A land parcel (图斑/地块) of the county's "one map" (一张图): the unit field chiefs patrol.
///
/// Reference fields (geometry, land class, area, the basic-farmland flag) are owned by the county hub;
/// operational fields (field chief, note) may be edited below it.
public struct Parcel: Hashable, Sendable, Codable {
    /// Stable identity ("every parcel has an identity card"), e.g. `371312001201-0042`.
    public var id: RecordID
    public var village: DivisionCode
    /// GB/T 21010-2017 four-digit class, e.g. `0101`.
    public var landClass: String
    public var areaMu: Double
    /// 永久基本农田.
    public var isPermanentBasicFarmland: Bool
    /// The responsible field chief's person id (田长).
    public var fieldChief: String?
    public var note: String?
    public var geometry: Polygon

    public init(
        id: RecordID, village: DivisionCode, landClass: String, areaMu: Double, isPermanentBasicFarmland: Bool,
        fieldChief: String?, note: String? = nil, geometry: Polygon
    ) {
        self.id = id
        self.village = village
        self.landClass = landClass
        self.areaMu = areaMu
        self.isPermanentBasicFarmland = isPermanentBasicFarmland
        self.fieldChief = fieldChief
        self.note = note
        self.geometry = geometry
    }

    public var township: DivisionCode { village.township! }
    public var county: DivisionCode { village.county }

    /// Names of the fields only the county hub may change; an edit from below becomes a correction request.
    public static let referenceFields: Set<String> = ["geometry", "landClass", "areaMu", "isPermanentBasicFarmland", "village"]

    /// Checks every field: village code level, land class against the catalog, area, geometry.
    /// - Throws: the first `ValidationError` found, with its field named.
    public func validate(landClasses: LandClassCatalog) throws(ValidationError) {
        guard village.level == .village else {
            throw ValidationError(.wrongDivisionLevel, "A parcel lies in a village (12 digits), not a \(village.level.rawValue) (\(village)).", field: "village")
        }
        _ = try landClasses.landClass(landClass)
        guard areaMu.isFinite, areaMu > 0 else {
            throw ValidationError(.invalidValue, "Area must be a positive number of mu, not \(areaMu).", field: "areaMu")
        }
        do { try geometry.validate() } catch { throw error.nested(under: "geometry") }
    }
}
