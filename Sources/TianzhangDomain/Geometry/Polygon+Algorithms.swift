import Foundation

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

/// The WGS84 ellipsoid (CGCS2000 differs from it by 0.1 mm in the semi-minor axis: negligible here).
enum Ellipsoid {
    static let a = 6_378_137.0
    static let f = 1 / 298.257_223_563
    static let e2 = f * (2 - f)
    static let e = e2.squareRoot()

    /// q(φ) of the authalic latitude (Snyder, Map Projections — A Working Manual, eq. 3-12).
    static func q(_ phi: Double) -> Double {
        let s = sin(phi)
        return (1 - e2) * (s / (1 - e2 * s * s) - (1 / (2 * e)) * log((1 - e * s) / (1 + e * s)))
    }

    static let qPole = q(.pi / 2)
    /// Radius of the sphere with the ellipsoid's area.
    static let authalicRadius = a * (qPole / 2).squareRoot()

    /// Metres per degree of latitude and of longitude at latitude `phi` (radians).
    static func metresPerDegree(atLatitude phi: Double) -> (latitude: Double, longitude: Double) {
        let s = sin(phi)
        let w = (1 - e2 * s * s).squareRoot()
        let meridional = a * (1 - e2) / (w * w * w)
        let normal = a / w
        return (meridional * .pi / 180, normal * cos(phi) * .pi / 180)
    }
}

/// Planar geometry helpers on (x, y) pairs.
enum Planar {
    /// Twice the signed area of the triangle (a, b, c): > 0 counter-clockwise, 0 collinear.
    static func orientation(_ a: (Double, Double), _ b: (Double, Double), _ c: (Double, Double)) -> Double {
        (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
    }

    static func onSegment(_ p: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> Bool {
        orientation(a, b, p) == 0 && min(a.0, b.0) <= p.0 && p.0 <= max(a.0, b.0) && min(a.1, b.1) <= p.1 && p.1 <= max(a.1, b.1)
    }

    /// Whether segments ab and cd share any point (touching, crossing or overlapping).
    static func intersect(_ a: (Double, Double), _ b: (Double, Double), _ c: (Double, Double), _ d: (Double, Double)) -> Bool {
        let o1 = orientation(a, b, c), o2 = orientation(a, b, d), o3 = orientation(c, d, a), o4 = orientation(c, d, b)
        if (o1 > 0 && o2 < 0 || o1 < 0 && o2 > 0) && (o3 > 0 && o4 < 0 || o3 < 0 && o4 > 0) { return true }
        return onSegment(c, a, b) || onSegment(d, a, b) || onSegment(a, c, d) || onSegment(b, c, d)
    }

    /// Whether ab and cd cross at a point interior to both (not merely touching or overlapping).
    static func crossProperly(_ a: (Double, Double), _ b: (Double, Double), _ c: (Double, Double), _ d: (Double, Double)) -> Bool {
        let o1 = orientation(a, b, c), o2 = orientation(a, b, d), o3 = orientation(c, d, a), o4 = orientation(c, d, b)
        return (o1 > 0 && o2 < 0 || o1 < 0 && o2 > 0) && (o3 > 0 && o4 < 0 || o3 < 0 && o4 > 0)
    }

    /// Distance from p to segment ab.
    static func distance(_ p: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> Double {
        let dx = b.0 - a.0, dy = b.1 - a.1
        let length2 = dx * dx + dy * dy
        var t = length2 == 0 ? 0 : ((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length2
        t = min(1, max(0, t))
        let x = a.0 + t * dx - p.0, y = a.1 + t * dy - p.1
        return (x * x + y * y).squareRoot()
    }

    /// Even-odd point-in-ring test (the ring is closed).
    static func inside(_ p: (Double, Double), ring: [(Double, Double)]) -> Bool {
        var inside = false
        var j = ring.count - 2
        for i in 0..<(ring.count - 1) {
            let a = ring[i], b = ring[j]
            if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 { inside.toggle() }
            j = i
        }
        return inside
    }
}

extension Polygon {
    func xy(_ ring: [Coordinate]) -> [(Double, Double)] { ring.map { ($0.longitude, $0.latitude) } }

    /// Area on the WGS84 ellipsoid in square metres, holes subtracted.
    ///
    /// Method: each vertex is mapped to the authalic sphere (an exact equal-area mapping of the
    /// ellipsoid) and then by the Lambert cylindrical equal-area projection to the plane, where the
    /// shoelace formula gives the area. Areas are exact for regions bounded by meridians and parallels;
    /// for a parcel, the only error is that edges are straight in that projection rather than geodesics,
    /// relatively about (edge length / Earth radius)² — below 10⁻⁹ for a 1 km edge. See docs/geometry.md.
    public var areaSquareMetres: Double {
        guard let origin = rings.first?.first else { return 0 }
        let r = Ellipsoid.authalicRadius
        let y0 = Ellipsoid.q(origin.latitude * .pi / 180) / Ellipsoid.qPole
        func ringArea(_ ring: [Coordinate]) -> Double {
            let points = ring.map { p in
                (r * (p.longitude - origin.longitude) * .pi / 180, r * (Ellipsoid.q(p.latitude * .pi / 180) / Ellipsoid.qPole - y0))
            }
            var sum = 0.0
            for i in 0..<max(0, points.count - 1) { sum += points[i].0 * points[i + 1].1 - points[i + 1].0 * points[i].1 }
            return abs(sum) / 2
        }
        guard let exterior = rings.first else { return 0 }
        return max(0, ringArea(exterior) - holes.reduce(0) { $0 + ringArea($1) })
    }

    /// Area in mu.
    public var areaMu: Double { areaSquareMetres / squareMetresPerMu }

    public var boundingBox: BoundingBox {
        let all = rings.flatMap { $0 }
        return BoundingBox(
            minLongitude: all.map(\.longitude).min() ?? 0, minLatitude: all.map(\.latitude).min() ?? 0,
            maxLongitude: all.map(\.longitude).max() ?? 0, maxLatitude: all.map(\.latitude).max() ?? 0)
    }

    /// Whether `point` lies inside (on the boundary counts as inside; inside a hole does not).
    public func contains(_ point: Coordinate) -> Bool {
        let p = (point.longitude, point.latitude)
        guard boundingBox.contains(point) else { return false }
        for ring in rings {
            let points = xy(ring)
            for i in 0..<max(0, points.count - 1) where Planar.onSegment(p, points[i], points[i + 1]) { return true }
        }
        guard Planar.inside(p, ring: xy(exterior)) else { return false }
        return !holes.contains { Planar.inside(p, ring: xy($0)) }
    }

    /// Distance in metres from `point` to the polygon: 0 inside, else to the nearest boundary point.
    ///
    /// Computed in a local plane around the point (metres per degree of the ellipsoid at its latitude):
    /// within 0.1% for distances up to a few kilometres.
    public func distanceMetres(to point: Coordinate) -> Double {
        if contains(point) { return 0 }
        let scale = Ellipsoid.metresPerDegree(atLatitude: point.latitude * .pi / 180)
        var best = Double.infinity
        for ring in rings {
            let local = ring.map { ((($0.longitude - point.longitude) * scale.longitude), (($0.latitude - point.latitude) * scale.latitude)) }
            for i in 0..<max(0, local.count - 1) { best = min(best, Planar.distance((0, 0), local[i], local[i + 1])) }
        }
        return best
    }

    /// Geofence check: inside, within `toleranceMetres` of the boundary, or how far outside.
    public func geofence(_ point: Coordinate, toleranceMetres: Double) -> GeofenceResult {
        let distance = distanceMetres(to: point)
        if distance == 0 { return .inside }
        return distance <= toleranceMetres ? .withinTolerance(distanceMetres: distance) : .outside(distanceMetres: distance)
    }

    /// Whether the interiors of the two polygons overlap (touching edges or corners does not count).
    public func overlaps(_ other: Polygon) -> Bool {
        guard boundingBox.intersects(other.boundingBox) else { return false }
        for ring in rings {
            let a = xy(ring)
            for otherRing in other.rings {
                let b = xy(otherRing)
                for i in 0..<max(0, a.count - 1) {
                    for j in 0..<max(0, b.count - 1) where Planar.crossProperly(a[i], a[i + 1], b[j], b[j + 1]) { return true }
                }
            }
        }
        func strictlyInside(_ p: Coordinate, _ polygon: Polygon) -> Bool { polygon.contains(p) && polygon.distanceToBoundary(p) > 0 }
        return strictlyInside(interiorPoint, other) || strictlyInside(other.interiorPoint, self)
    }

    func distanceToBoundary(_ point: Coordinate) -> Double {
        let p = (point.longitude, point.latitude)
        return rings.map { ring -> Double in
            let points = xy(ring)
            return (0..<max(0, points.count - 1)).map { Planar.distance(p, points[$0], points[$0 + 1]) }.min() ?? .infinity
        }.min() ?? .infinity
    }

    /// A point strictly inside the polygon: the middle of the widest interior span of a horizontal line
    /// through the middle of the bounding box (nudged off the vertices).
    public var interiorPoint: Coordinate {
        let box = boundingBox
        let all = rings.flatMap { $0 }
        var y = (box.minLatitude + box.maxLatitude) / 2
        let vertexLatitudes = Set(all.map(\.latitude))
        var nudge = (box.maxLatitude - box.minLatitude) * 1e-3
        while vertexLatitudes.contains(y) && nudge > 0 { y += nudge; nudge /= 2 }
        var crossings: [Double] = []
        for ring in rings {
            let points = xy(ring)
            for i in 0..<max(0, points.count - 1) {
                let a = points[i], b = points[i + 1]
                if (a.1 > y) != (b.1 > y) { crossings.append(a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1)) }
            }
        }
        crossings.sort()
        var best: (Double, Double)? = nil
        var i = 0
        while i + 1 < crossings.count {
            let width = crossings[i + 1] - crossings[i]
            if best == nil || width > best!.1 - best!.0 { best = (crossings[i], crossings[i + 1]) }
            i += 2
        }
        guard let span = best else { return exterior.first ?? Coordinate(longitude: 0, latitude: 0) }
        return Coordinate(longitude: (span.0 + span.1) / 2, latitude: y)
    }
}
