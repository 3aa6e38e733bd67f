// API contract for the geometry algorithms. Implementations are being written (see Geometry/).

/// An axis-aligned box in degrees.
public struct BoundingBox: Hashable, Sendable, Codable {
    public var minLongitude: Double
    public var minLatitude: Double
    public var maxLongitude: Double
    public var maxLatitude: Double

    public init(minLongitude: Double, minLatitude: Double, maxLongitude: Double, maxLatitude: Double) {
        self.minLongitude = minLongitude
        self.minLatitude = minLatitude
        self.maxLongitude = maxLongitude
        self.maxLatitude = maxLatitude
    }

    public func contains(_ point: Coordinate) -> Bool {
        (minLongitude...maxLongitude).contains(point.longitude) && (minLatitude...maxLatitude).contains(point.latitude)
    }

    public func intersects(_ other: BoundingBox) -> Bool {
        minLongitude <= other.maxLongitude && other.minLongitude <= maxLongitude
            && minLatitude <= other.maxLatitude && other.minLatitude <= maxLatitude
    }
}

/// Square metres in one mu (亩): 10000 / 15.
public let squareMetresPerMu = 10_000.0 / 15.0

extension Polygon {
    /// Validates closed rings, at least 4 positions (3 distinct) per ring, finite in-range coordinates,
    /// no self-intersection, holes inside the exterior.
    /// - Throws: `ValidationError` (`invalid_geometry`) with `field` such as `rings[0][3]`.
    public func validate() throws(ValidationError) {
        if rings.isEmpty { throw ValidationError(.invalidGeometry, "A polygon needs an exterior ring.", field: "rings") }
    }

    /// Area on the ellipsoid in square metres (holes subtracted).
    public var areaSquareMetres: Double { 0 }

    /// Area in mu.
    public var areaMu: Double { areaSquareMetres / squareMetresPerMu }

    public var boundingBox: BoundingBox {
        let all = rings.flatMap { $0 }
        return BoundingBox(
            minLongitude: all.map(\.longitude).min() ?? 0, minLatitude: all.map(\.latitude).min() ?? 0,
            maxLongitude: all.map(\.longitude).max() ?? 0, maxLatitude: all.map(\.latitude).max() ?? 0)
    }

    /// Whether `point` lies inside (on the boundary counts as inside; inside a hole does not).
    public func contains(_ point: Coordinate) -> Bool { false }

    /// Distance in metres from `point` to the polygon: 0 inside, else to the nearest boundary point.
    public func distanceMetres(to point: Coordinate) -> Double { 0 }

    /// Geofence check with a tolerance in metres.
    public func geofence(_ point: Coordinate, toleranceMetres: Double) -> GeofenceResult { .inside }

    /// Whether the interiors of the two polygons overlap (touching edges do not count).
    public func overlaps(_ other: Polygon) -> Bool { false }

    /// A representative point inside the polygon.
    public var interiorPoint: Coordinate { exterior.first ?? Coordinate(longitude: 0, latitude: 0) }
}
