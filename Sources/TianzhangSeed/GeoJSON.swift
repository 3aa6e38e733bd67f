import Foundation
import TianzhangDomain

/// GeoJSON (RFC 7946) for parcels: a FeatureCollection of Polygon features in CRS84 (lon, lat).
public enum GeoJSON {
    struct FeatureCollection: Codable {
        var type = "FeatureCollection"
        var features: [Feature]
    }

    struct Feature: Codable {
        var type = "Feature"
        var id: String
        var geometry: Geometry
        var properties: Properties
    }

    struct Geometry: Codable {
        var type = "Polygon"
        var coordinates: [[[Double]]]
    }

    struct Properties: Codable {
        var id: String
        var village: String
        var landClass: String
        var areaMu: Double
        var isPermanentBasicFarmland: Bool
        var fieldChief: String?
        var note: String?
        /// Marks generated data, so nobody mistakes it for survey data.
        var synthetic: Bool?
    }

    /// Encodes parcels as a FeatureCollection; keys sorted, so equal input gives equal bytes.
    public static func featureCollection(parcels: [Parcel], synthetic: Bool = false) -> Data {
        let features = parcels.map { parcel in
            Feature(
                id: parcel.id.rawValue,
                geometry: Geometry(coordinates: parcel.geometry.rings.map { $0.map { [$0.longitude, $0.latitude] } }),
                properties: Properties(
                    id: parcel.id.rawValue, village: parcel.village.rawValue, landClass: parcel.landClass, areaMu: parcel.areaMu,
                    isPermanentBasicFarmland: parcel.isPermanentBasicFarmland, fieldChief: parcel.fieldChief, note: parcel.note,
                    synthetic: synthetic ? true : nil))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try! encoder.encode(FeatureCollection(features: features))
    }

    /// One feature that was not imported, and why.
    public struct FeatureRejection: Hashable, Sendable, CustomStringConvertible {
        /// Position of the feature in the file (0-based).
        public var index: Int
        public var id: String?
        public var error: ValidationError
        public var description: String { "feature \(index)\(id.map { " (\($0))" } ?? ""): \(error)" }
    }

    /// What an import found: the parcels that passed every check, and every feature that did not.
    public struct ParcelImportReport: Sendable {
        public var accepted: [Parcel]
        public var rejected: [FeatureRejection]
    }

    /// A file that is not a GeoJSON FeatureCollection at all.
    public struct FileError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// Reads parcels from a FeatureCollection. Each feature is checked on its own (properties, codes,
    /// land class against GB/T 21010, geometry); bad features are reported and never half-imported.
    ///
    /// Required properties: `id`, `village` (12 digits), `landClass` (a GB/T 21010-2017 class). Optional:
    /// `areaMu` (taken as given; computed from the polygon only when absent), `isPermanentBasicFarmland`
    /// (false when absent), `fieldChief`, `note`; an optional property of the wrong type is refused.
    /// The geometry is a Polygon, or a MultiPolygon of exactly one polygon. A later feature repeating an
    /// accepted id is refused (`invalid_identifier`).
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - landClasses: the catalog land classes are checked against.
    /// - Returns: the accepted parcels and, per refused feature, its index, its id if it had one, and the error.
    /// - Throws: `FileError` when the data is not JSON or not a FeatureCollection.
    public static func importParcels(data: Data, landClasses: LandClassCatalog) throws -> ParcelImportReport {
        let root: GeoValue
        do { root = try JSONDecoder().decode(GeoValue.self, from: data) } catch {
            throw FileError(message: "The file is not valid JSON (\(error)).")
        }
        guard case .object(let object) = root, object["type"] == .string("FeatureCollection"), case .array(let features)? = object["features"] else {
            throw FileError(message: "The file is not a GeoJSON FeatureCollection (it needs \"type\": \"FeatureCollection\" and a \"features\" array).")
        }
        var accepted: [Parcel] = [], rejected: [FeatureRejection] = []
        var seen: Set<String> = []
        for (index, raw) in features.enumerated() {
            let id = raw.object?["properties"]?.object?["id"]?.string ?? raw.object?["id"]?.string
            do throws(ValidationError) {
                let parcel = try parcel(from: raw, landClasses: landClasses)
                guard seen.insert(parcel.id.rawValue).inserted else {
                    throw ValidationError(.invalidIdentifier, "Parcel id \(parcel.id) appears more than once in this file.", field: "properties.id")
                }
                accepted.append(parcel)
            } catch {
                rejected.append(FeatureRejection(index: index, id: id, error: error))
            }
        }
        return ParcelImportReport(accepted: accepted, rejected: rejected)
    }

    static func parcel(from raw: GeoValue, landClasses: LandClassCatalog) throws(ValidationError) -> Parcel {
        guard let feature = raw.object, feature["type"]?.string == "Feature" else {
            throw ValidationError(.invalidValue, "Not a GeoJSON Feature.", field: "type")
        }
        guard let properties = feature["properties"]?.object else {
            throw ValidationError(.missingField, "The feature has no properties.", field: "properties")
        }
        func string(_ key: String) throws(ValidationError) -> String {
            guard let value = properties[key]?.string, !value.isEmpty else {
                throw ValidationError(.missingField, "Property \"\(key)\" is missing or not text.", field: "properties.\(key)")
            }
            return value
        }
        /// An optional property: absent or null gives nil; present with the wrong type is refused.
        func optional<T>(_ key: String, _ kind: String, _ extract: (GeoValue) -> T?) throws(ValidationError) -> T? {
            guard let value = properties[key], value != .null else { return nil }
            guard let result = extract(value) else {
                throw ValidationError(.invalidValue, "Property \"\(key)\" must be \(kind).", field: "properties.\(key)")
            }
            return result
        }
        let id = try RecordID(try string("id"), field: "properties.id")
        let village = try DivisionCode(try string("village"), level: .village, field: "properties.village")
        let landClass = try landClasses.landClass(try string("landClass"), field: "properties.landClass").code
        let areaMu = try optional("areaMu", "a number of mu", \.number)
        let isPermanentBasicFarmland = try optional("isPermanentBasicFarmland", "true or false", \.bool)
        let fieldChief = try optional("fieldChief", "text (a person id)", \.string)
        let note = try optional("note", "text", \.string)
        let polygon = try geometry(feature["geometry"])
        do { try polygon.validate() } catch { throw error.nested(under: "geometry") }
        // The area is the survey's figure when given (never recomputed, so export → import is lossless).
        let parcel = Parcel(
            id: id, village: village, landClass: landClass, areaMu: areaMu ?? polygon.areaMu,
            isPermanentBasicFarmland: isPermanentBasicFarmland ?? false, fieldChief: fieldChief, note: note, geometry: polygon)
        try parcel.validate(landClasses: landClasses)
        return parcel
    }

    static func geometry(_ raw: GeoValue?) throws(ValidationError) -> Polygon {
        guard let geometry = raw?.object, let type = geometry["type"]?.string else {
            throw ValidationError(.invalidGeometry, "The feature has no geometry.", field: "geometry")
        }
        var rings = geometry["coordinates"]
        switch type {
        case "Polygon": break
        case "MultiPolygon":
            guard let polygons = rings?.array, polygons.count == 1 else {
                throw ValidationError(.invalidGeometry, "A MultiPolygon of \(rings?.array?.count ?? 0) polygons is not one parcel; split it into Polygon features.", field: "geometry")
            }
            rings = polygons[0]
        default:
            throw ValidationError(.invalidGeometry, "Geometry type \(type) is not a Polygon.", field: "geometry.type")
        }
        guard let ringList = rings?.array else {
            throw ValidationError(.invalidGeometry, "Polygon coordinates must be a list of rings.", field: "geometry.coordinates")
        }
        var result: [[Coordinate]] = []
        for (r, ring) in ringList.enumerated() {
            guard let positions = ring.array else {
                throw ValidationError(.invalidGeometry, "Ring \(r) is not a list of positions.", field: "geometry.coordinates[\(r)]")
            }
            var coordinates: [Coordinate] = []
            for (i, position) in positions.enumerated() {
                guard let pair = position.array, pair.count >= 2, let lon = pair[0].number, let lat = pair[1].number else {
                    throw ValidationError(.invalidGeometry, "Position \(i) of ring \(r) is not [longitude, latitude].", field: "geometry.coordinates[\(r)][\(i)]")
                }
                coordinates.append(Coordinate(longitude: lon, latitude: lat))
            }
            result.append(coordinates)
        }
        return Polygon(rings: result)
    }
}

/// Any JSON value, decoded with `JSONDecoder` (numbers round-trip exactly as doubles).
enum GeoValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([GeoValue]), object([String: GeoValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([GeoValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: GeoValue].self)) }
    }

    var object: [String: GeoValue]? { if case .object(let o) = self { o } else { nil } }
    var array: [GeoValue]? { if case .array(let a) = self { a } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var number: Double? { if case .number(let n) = self { n } else { nil } }
    var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
}
