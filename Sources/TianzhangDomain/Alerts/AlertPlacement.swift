/// A village of the county as placement sees it: its code, the area it covers and its field chief.
public struct VillageArea: Hashable, Sendable {
    public var code: DivisionCode
    /// The area the village covers (generated villages: their grid cell, a rectangle).
    public var boundary: Polygon
    /// The person id of the village's field chief (田长), if the county has one on record.
    public var fieldChief: String?

    public init(code: DivisionCode, boundary: Polygon, fieldChief: String? = nil) {
        self.code = code
        self.boundary = boundary
        self.fieldChief = fieldChief
    }
}

/// Where an alert lies: the township and the villages it overlaps, the main village first.
public struct AlertPlacement: Hashable, Sendable, Codable {
    /// One overlapped village and how much of the alert lies in it.
    public struct Overlap: Hashable, Sendable, Codable {
        public var village: DivisionCode
        /// The area of the alert inside the village, in mu (0 for a point).
        public var areaMu: Double
    }

    /// The main village's township: the case and its tasks belong to it.
    public var township: DivisionCode
    /// Every village the alert overlaps, the largest overlap first (ties: lower code first). The first is
    /// the main village, the case's scope. A village of a neighbouring township may be listed too.
    public var villages: [Overlap]
    /// A point strictly inside the alert (inside its largest part), or the alert's point.
    public var location: Coordinate
    /// The alert's whole area in mu (0 for a point).
    public var areaMu: Double
    /// The county's parcels the alert overlaps (or the parcel holding the point), by id: filled in by
    /// the caller with `AlertPlacer.affectedParcels(of:among:)` from the overlapped villages' parcels.
    public var parcels: [RecordID] = []

    public var mainVillage: DivisionCode { villages[0].village }
}

/// Places alerts in the county's villages. Pure: no I/O, the same input gives the same answer.
///
/// ```swift
/// switch AlertPlacer.place(alert.geometry, in: villages) {
/// case .success(let placement): dispatch(alert, placement)
/// case .failure(let refusal): report(refusal.code)   // outside_county, invalid_geometry, not_a_polygon
/// }
/// ```
public enum AlertPlacer {
    /// Places a geometry.
    ///
    /// A (Multi)Polygon: every part is validated (`Polygon.validate`); it lies in the villages whose
    /// boundary overlaps the interior of some part (`Polygon.overlaps`: touching an edge is not lying
    /// in), ranked by the area inside each (`overlapSquareMetres`). A point lies in the villages whose
    /// boundary contains it (on a shared edge, in both; the lower code is the main village).
    /// - Returns: the placement, or a `ValidationError` with code `outside_county` (no village of the
    ///   county overlaps it), `invalid_geometry` (the validator's message, `field` such as
    ///   `geometry.coordinates[1].rings[0]`) or `not_a_polygon` (any other geometry type).
    ///   A geometry over `limits` (`geometry_too_large`) is refused before any geometric work: each part
    ///   within the polygon limits, and all parts together within `ringsMax` rings and `polygonVerticesMax` positions.
    public static func place(_ geometry: AlertGeometry, in villages: [VillageArea], limits: GeometryLimits = .v1) -> Result<AlertPlacement, ValidationError> {
        switch geometry {
        case .unsupported(let type):
            return .failure(ValidationError(.notAPolygon, "A \(type) is not an area: send a Polygon or MultiPolygon (or a Point for a camera's sighting).", field: "geometry.type"))
        case .point(let point):
            do { try point.validate() } catch { return .failure(error.nested(under: "geometry.coordinates")) }
            let inside = villages.filter { $0.boundary.contains(point) }.map(\.code).sorted()
            guard let main = inside.first, let township = main.township else {
                return .failure(ValidationError(.outsideCounty, "Point (\(point.longitude), \(point.latitude)) lies in no village of the county.", field: "geometry"))
            }
            return .success(AlertPlacement(township: township, villages: inside.map { .init(village: $0, areaMu: 0) }, location: point, areaMu: 0))
        case .polygons(let parts):
            guard !parts.isEmpty else {
                return .failure(ValidationError(.invalidGeometry, "The MultiPolygon has no polygons.", field: "geometry.coordinates"))
            }
            let ringCount = parts.reduce(0) { $0 + $1.rings.count }, positions = parts.reduce(0) { $0 + $1.vertexCount }
            guard ringCount <= limits.ringsMax, positions <= limits.polygonVerticesMax else {
                return .failure(ValidationError(.geometryTooLarge, "The geometry has \(ringCount) rings and \(positions) positions in all; at most \(limits.ringsMax) rings and \(limits.polygonVerticesMax) positions are taken.", field: "geometry.coordinates"))
            }
            for (index, part) in parts.enumerated() {
                do { try part.checkSize(limits); try part.validate() } catch {
                    return .failure(error.nested(under: parts.count == 1 ? "geometry" : "geometry.coordinates[\(index)]"))
                }
            }
            var overlaps: [AlertPlacement.Overlap] = []
            for village in villages {
                let touched = parts.filter { $0.overlaps(village.boundary) }
                guard !touched.isEmpty else { continue }
                let metres = touched.reduce(0) { $0 + $1.overlapSquareMetres(with: village.boundary) }
                overlaps.append(.init(village: village.code, areaMu: metres / squareMetresPerMu))
            }
            overlaps.sort { $0.areaMu != $1.areaMu ? $0.areaMu > $1.areaMu : $0.village < $1.village }
            let largest = parts.max { $0.areaSquareMetres < $1.areaSquareMetres }!
            guard let main = overlaps.first, let township = main.village.township else {
                let box = parts.map(\.boundingBox).reduce(parts[0].boundingBox) { union($0, $1) }
                return .failure(ValidationError(
                    .outsideCounty,
                    "The area (\(box.minLongitude)…\(box.maxLongitude) E, \(box.minLatitude)…\(box.maxLatitude) N) overlaps no village of the county.",
                    field: "geometry"))
            }
            let areaMu = parts.reduce(0) { $0 + $1.areaMu }
            return .success(AlertPlacement(township: township, villages: overlaps, location: largest.interiorPoint, areaMu: areaMu))
        }
    }

    /// The parcels an alert lies on: those whose polygon overlaps the interior of a part of the alert
    /// (`Polygon.overlaps`), or that hold the alert's point; in id order.
    public static func affectedParcels(of geometry: AlertGeometry, among parcels: [Parcel]) -> [RecordID] {
        switch geometry {
        case .unsupported: return []
        case .point(let point): return parcels.filter { $0.geometry.contains(point) }.map(\.id).sorted()
        case .polygons(let parts):
            return parcels.filter { parcel in parts.contains { $0.overlaps(parcel.geometry) } }.map(\.id).sorted()
        }
    }

    static func union(_ a: BoundingBox, _ b: BoundingBox) -> BoundingBox {
        BoundingBox(
            minLongitude: min(a.minLongitude, b.minLongitude), minLatitude: min(a.minLatitude, b.minLatitude),
            maxLongitude: max(a.maxLongitude, b.maxLongitude), maxLatitude: max(a.maxLatitude, b.maxLatitude))
    }
}
