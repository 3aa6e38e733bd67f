import Foundation
import TianzhangDomain

/// A province's satellite change-detection patches (卫片图斑) as GeoJSON: a FeatureCollection in CRS84
/// whose features carry `polygon_id` (the id within the tile), `tile_name` (optional), `chg_date`
/// (`YYYY-MM-DD`, the date of the change), `chg_agent` (construction, deforestation …), `prob` and
/// `area` (m²), with a Polygon or MultiPolygon geometry.
public enum SatellitePatches {
    /// Reads every feature as an alert with source `satellite`: external id `<tile_name>-<polygon_id>`
    /// (or the feature's `id`), time = `chg_date` at 00:00 China time, violation `nonAgriculturalUse`
    /// for construction (else `other`), note = agent, date, probability and area. The geometry is kept
    /// as it is (placement validates it); a feature that cannot be read is returned with its reason.
    /// - Returns: one result per feature, in file order: `(index, external id if any, alert or error)`.
    /// - Throws: `GeoJSON.FileError` when the data is not JSON or not a FeatureCollection.
    public static func alerts(data: Data) throws -> [(index: Int, externalID: String?, alert: Result<Alert, ValidationError>)] {
        let root: GeoValue
        do { root = try JSONDecoder().decode(GeoValue.self, from: data) } catch {
            throw GeoJSON.FileError(message: "The file is not valid JSON (\(error)).")
        }
        guard case .object(let object) = root, object["type"] == .string("FeatureCollection"), case .array(let features)? = object["features"] else {
            throw GeoJSON.FileError(message: "The file is not a GeoJSON FeatureCollection (it needs \"type\": \"FeatureCollection\" and a \"features\" array).")
        }
        return features.enumerated().map { index, raw in
            let id = externalID(raw)
            do throws(ValidationError) {
                return (index, id, .success(try alert(from: raw, externalID: id)))
            } catch {
                return (index, id, .failure(error))
            }
        }
    }

    static func externalID(_ raw: GeoValue) -> String? {
        let properties = raw.object?["properties"]?.object
        func text(_ value: GeoValue?) -> String? {
            switch value {
            case .string(let s)?: s
            case .number(let n)? where n == n.rounded() && abs(n) < 1e15: String(Int64(n))
            default: nil
            }
        }
        guard let id = text(properties?["polygon_id"]) ?? text(raw.object?["id"]) else { return nil }
        return text(properties?["tile_name"]).map { "\($0)-\(id)" } ?? id
    }

    static func alert(from raw: GeoValue, externalID: String?) throws(ValidationError) -> Alert {
        guard let feature = raw.object, feature["type"]?.string == "Feature" else {
            throw ValidationError(.invalidValue, "Not a GeoJSON Feature.", field: "type")
        }
        guard let externalID else {
            throw ValidationError(.missingField, "The feature has no polygon_id property (nor an id).", field: "properties.polygon_id")
        }
        let properties = feature["properties"]?.object ?? [:]
        guard let date = properties["chg_date"]?.string, let day = day(date) else {
            throw ValidationError(.missingField, "Property \"chg_date\" is missing or not a date YYYY-MM-DD.", field: "properties.chg_date")
        }
        let geometry = try geometry(feature["geometry"])
        let agent = properties["chg_agent"]?.string ?? "unknown"
        var note = "卫片图斑 \(externalID): \(agent), \(date)"
        if let prob = properties["prob"]?.number { note += ", p=\((prob * 100).rounded() / 100)" }
        if let area = properties["area"]?.number { note += ", \(Int(area.rounded())) m²" }
        let alert = Alert(
            source: .satellite, externalID: externalID, at: Timestamp(milliseconds: day * 86_400_000 - 8 * 3_600_000), geometry: geometry,
            violation: agent == "construction" ? .nonAgriculturalUse : .other, note: note)
        try alert.validate()
        return alert
    }

    /// Days since 1970-01-01 of `YYYY-MM-DD`, or nil.
    static func day(_ text: String) -> Int64? {
        let parts = text.split(separator: "-").compactMap { Int64($0) }
        guard parts.count == 3, text.count == 10, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else { return nil }
        return Timestamp.days(year: parts[0], month: parts[1], day: parts[2])
    }

    /// A GeoJSON geometry as an alert geometry; types other than Polygon / MultiPolygon / Point become
    /// `.unsupported` (placement refuses them); malformed coordinates are `invalid_geometry`.
    static func geometry(_ raw: GeoValue?) throws(ValidationError) -> AlertGeometry {
        guard let geometry = raw?.object, let type = geometry["type"]?.string else {
            throw ValidationError(.invalidGeometry, "The feature has no geometry.", field: "geometry")
        }
        func position(_ value: GeoValue, _ path: String) throws(ValidationError) -> Coordinate {
            guard let pair = value.array, pair.count >= 2, let lon = pair[0].number, let lat = pair[1].number else {
                throw ValidationError(.invalidGeometry, "Position \(path) is not [longitude, latitude].", field: "geometry.coordinates\(path)")
            }
            return Coordinate(longitude: lon, latitude: lat)
        }
        func polygon(_ value: GeoValue?, _ path: String) throws(ValidationError) -> Polygon {
            guard let rings = value?.array else {
                throw ValidationError(.invalidGeometry, "Polygon coordinates\(path) must be a list of rings.", field: "geometry.coordinates\(path)")
            }
            var result: [[Coordinate]] = []
            for (r, ring) in rings.enumerated() {
                guard let positions = ring.array else {
                    throw ValidationError(.invalidGeometry, "Ring \(path)[\(r)] is not a list of positions.", field: "geometry.coordinates\(path)[\(r)]")
                }
                var coordinates: [Coordinate] = []
                for (i, p) in positions.enumerated() { coordinates.append(try position(p, "\(path)[\(r)][\(i)]")) }
                result.append(coordinates)
            }
            return Polygon(rings: result)
        }
        switch type {
        case "Point":
            guard let value = geometry["coordinates"] else { throw ValidationError(.invalidGeometry, "The Point has no coordinates.", field: "geometry.coordinates") }
            return .point(try position(value, ""))
        case "Polygon":
            return .polygons([try polygon(geometry["coordinates"], "")])
        case "MultiPolygon":
            guard let parts = geometry["coordinates"]?.array else {
                throw ValidationError(.invalidGeometry, "MultiPolygon coordinates must be a list of polygons.", field: "geometry.coordinates")
            }
            var polygons: [Polygon] = []
            for (index, part) in parts.enumerated() { polygons.append(try polygon(part, "[\(index)]")) }
            return .polygons(polygons)
        default:
            return .unsupported(type: type)
        }
    }
}
