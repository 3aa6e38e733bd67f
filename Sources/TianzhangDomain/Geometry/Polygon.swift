/// A position in degrees, longitude first (GeoJSON order), on CGCS2000 / WGS84 (treated as one datum:
/// they differ by centimetres, far below parcel survey accuracy).
public struct Coordinate: Hashable, Sendable, Codable {
    public var longitude: Double
    public var latitude: Double

    public init(longitude: Double, latitude: Double) {
        self.longitude = longitude
        self.latitude = latitude
    }
}

/// A polygon: an exterior ring, then zero or more holes. Each ring is closed (first == last).
public struct Polygon: Hashable, Sendable, Codable {
    public var rings: [[Coordinate]]

    public init(rings: [[Coordinate]]) { self.rings = rings }

    public init(exterior: [Coordinate], holes: [[Coordinate]] = []) { self.rings = [exterior] + holes }

    public var exterior: [Coordinate] { rings.first ?? [] }
    public var holes: ArraySlice<[Coordinate]> { rings.dropFirst() }
}
