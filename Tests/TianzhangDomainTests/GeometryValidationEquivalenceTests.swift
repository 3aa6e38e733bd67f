import Foundation
import Testing
@testable import TianzhangDomain

/// The pairwise (O(n²)) validator as it was before issue 10, kept as the reference the sweep must agree with.
enum ReferenceValidator {
    static func xy(_ ring: [Coordinate]) -> [(Double, Double)] { ring.map { ($0.longitude, $0.latitude) } }

    static func validate(_ polygon: Polygon) throws(ValidationError) {
        let rings = polygon.rings
        if rings.isEmpty { throw ValidationError(.invalidGeometry, "A polygon needs an exterior ring; it has none.", field: "rings") }
        for (r, ring) in rings.enumerated() {
            for (i, point) in ring.enumerated() {
                guard point.longitude.isFinite, point.latitude.isFinite else {
                    throw ValidationError(.invalidGeometry, "Position \(i) of ring \(r) is not finite (\(point.longitude), \(point.latitude)).", field: "rings[\(r)][\(i)]")
                }
                guard (-180...180).contains(point.longitude), (-90...90).contains(point.latitude) else {
                    throw ValidationError(.invalidGeometry, "Position \(i) of ring \(r) is out of range (\(point.longitude), \(point.latitude)); longitude is ±180, latitude ±90.", field: "rings[\(r)][\(i)]")
                }
            }
            guard ring.count >= 4 else {
                throw ValidationError(.invalidGeometry, "Ring \(r) has \(ring.count) positions; a closed ring needs at least 4 (3 corners and the first repeated).", field: "rings[\(r)]")
            }
            guard ring.first == ring.last else {
                throw ValidationError(.invalidGeometry, "Ring \(r) is not closed: its last position must repeat its first.", field: "rings[\(r)]")
            }
            guard Set(ring.dropLast()).count >= 3 else {
                throw ValidationError(.invalidGeometry, "Ring \(r) has fewer than 3 distinct positions.", field: "rings[\(r)]")
            }
            try checkSimple(xy(ring), ring: r)
        }
        let exterior = xy(rings[0])
        for (h, hole) in rings.enumerated().dropFirst() {
            let points = xy(hole)
            for i in 0..<(points.count - 1) {
                for j in 0..<(exterior.count - 1) where Planar.intersect(points[i], points[i + 1], exterior[j], exterior[j + 1]) {
                    throw ValidationError(.invalidGeometry, "Hole \(h) touches or crosses the exterior ring (its segment \(i) meets exterior segment \(j)).", field: "rings[\(h)]")
                }
            }
            guard Planar.inside(points[0], ring: exterior) else {
                throw ValidationError(.invalidGeometry, "Hole \(h) lies outside the exterior ring.", field: "rings[\(h)]")
            }
            for (k, other) in rings.enumerated().dropFirst() where k < h {
                let others = xy(other)
                for i in 0..<(points.count - 1) {
                    for j in 0..<(others.count - 1) where Planar.intersect(points[i], points[i + 1], others[j], others[j + 1]) {
                        throw ValidationError(.invalidGeometry, "Holes \(k) and \(h) touch or cross.", field: "rings[\(h)]")
                    }
                }
                if Planar.inside(points[0], ring: others) || Planar.inside(others[0], ring: points) {
                    throw ValidationError(.invalidGeometry, "Holes \(k) and \(h) are nested.", field: "rings[\(h)]")
                }
            }
        }
        guard polygon.areaSquareMetres > 0 else {
            throw ValidationError(.invalidGeometry, "The polygon has no area.", field: "rings[0]")
        }
    }

    static func checkSimple(_ ring: [(Double, Double)], ring r: Int) throws(ValidationError) {
        let n = ring.count - 1
        for i in 0..<n {
            for j in (i + 1)..<n {
                let adjacent = j == i + 1 || (i == 0 && j == n - 1)
                if adjacent {
                    let shared = j == i + 1 ? ring[j] : ring[i]
                    let a = j == i + 1 ? ring[i] : ring[i + 1], b = j == i + 1 ? ring[j + 1] : ring[j]
                    if Planar.orientation(a, shared, b) == 0 && ((a.0 - shared.0) * (b.0 - shared.0) + (a.1 - shared.1) * (b.1 - shared.1)) > 0 {
                        throw ValidationError(.invalidGeometry, "Ring \(r) self-intersects: segments \(i) and \(j) fold back onto each other.", field: "rings[\(r)]")
                    }
                    continue
                }
                if Planar.intersect(ring[i], ring[i + 1], ring[j], ring[j + 1]) {
                    throw ValidationError(.invalidGeometry, "Ring \(r) self-intersects: segment \(i) meets segment \(j).", field: "rings[\(r)]")
                }
            }
        }
    }
}

@Suite("Geometry: the O(n log n) validator agrees with the pairwise one")
struct GeometryValidationEquivalenceTests {
    static func outcome(_ body: () throws(ValidationError) -> Void) -> ValidationError? {
        do throws(ValidationError) { try body(); return nil } catch { return error }
    }

    /// A random ring on a small integer grid (so collinear runs, touching vertices and overlaps are
    /// common): either in random order (mostly self-intersecting) or sorted by angle around a centre
    /// (mostly simple, with ties that touch).
    static func randomRing(_ rng: inout SplitMix64, count: Int, grid: Int, origin: (Int, Int) = (0, 0)) -> [Coordinate] {
        var points = (0..<count).map { _ in (Double(origin.0 + Int(rng.next() % UInt64(grid))), Double(origin.1 + Int(rng.next() % UInt64(grid)))) }
        if rng.chance(0.7) {
            let cx = points.map(\.0).reduce(0, +) / Double(count) + 0.25, cy = points.map(\.1).reduce(0, +) / Double(count) + 0.25
            points.sort { atan2($0.1 - cy, $0.0 - cx) < atan2($1.1 - cy, $1.0 - cx) }
        }
        if rng.chance(0.1), points.count > 4 { points[Int(rng.next() % UInt64(points.count - 1)) + 1] = points[0] }
        let ring = points.map { Coordinate(longitude: 118 + $0.0 * 1e-4, latitude: 35 + $0.1 * 1e-4) }
        return ring + [ring[0]]
    }

    static func randomPolygon(_ rng: inout SplitMix64) -> Polygon {
        let grid = 3 + Int(rng.next() % 12)
        var rings = [randomRing(&rng, count: 3 + Int(rng.next() % 10), grid: grid)]
        let holes = rng.chance(0.5) ? Int(rng.next() % 4) : 0
        for _ in 0..<holes {
            let size = 2 + Int(rng.next() % 4)
            let origin = (Int(rng.next() % UInt64(grid)), Int(rng.next() % UInt64(grid)))
            rings.append(randomRing(&rng, count: 3 + Int(rng.next() % 5), grid: size, origin: origin))
        }
        return Polygon(rings: rings)
    }

    @Test("20,000 random small polygons (touching, collinear, repeated positions, holes): the same answer, code, field and message", arguments: [UInt64(1), 2, 3, 4])
    func smallRandomPolygons(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var valid = 0, invalid = 0
        for index in 0..<5_000 {
            let polygon = Self.randomPolygon(&rng)
            let expected = Self.outcome { () throws(ValidationError) in try ReferenceValidator.validate(polygon) }
            let got = Self.outcome { () throws(ValidationError) in try polygon.validate() }
            #expect(got == expected, "seed \(seed) #\(index): \(polygon.rings.map { $0.map { ($0.longitude, $0.latitude) } })")
            if expected == nil { valid += 1 } else { invalid += 1 }
        }
        // Both kinds occur, so the comparison means something.
        #expect(valid > 200 && invalid > 200, "valid \(valid), invalid \(invalid)")
    }

    @Test("larger random rings (up to 400 positions) and holes: the same answer", arguments: [UInt64(11), 12])
    func largerRandomPolygons(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var valid = 0
        for index in 0..<150 {
            let count = 20 + Int(rng.next() % 380)
            var rings = [Self.randomRing(&rng, count: count, grid: 200)]
            if rng.chance(0.5) { rings.append(Self.randomRing(&rng, count: 10 + Int(rng.next() % 50), grid: 40, origin: (80, 80))) }
            let polygon = Polygon(rings: rings)
            let expected = Self.outcome { () throws(ValidationError) in try ReferenceValidator.validate(polygon) }
            let got = Self.outcome { () throws(ValidationError) in try polygon.validate() }
            #expect(got == expected, "seed \(seed) #\(index)")
            if expected == nil { valid += 1 }
        }
        #expect(valid > 5, "valid \(valid)")
    }

    @Test("a comb whose teeth all cross one sweep line: valid; one tooth bent onto its neighbour, a vertex moved onto another segment, or a hole touching: refused as the pairwise check refuses")
    func combs() {
        func place(_ points: [(Double, Double)]) -> [Coordinate] { points.map { Coordinate(longitude: 118 + $0.0 * 1e-5, latitude: 35 + $0.1 * 1e-5) } }
        var raw: [(Double, Double)] = [(0, 0)]
        for k in 0..<240 {
            let y = Double(2 * k)
            raw += [(100, y), (100, y + 1), (5, y + 1), (5, y + 2)]
        }
        raw += [(0, 480), (0, 0)]  // 962 segments: messages compared exactly (up to 1,000)
        let good = place(raw)
        #expect(Self.outcome { () throws(ValidationError) in try Polygon(exterior: good).validate() } == nil)
        var bentRaw = raw
        bentRaw[4 * 150 + 2] = (100, 302)  // a tooth's tip reaches the next tooth's corner
        var touchingRaw = raw
        touchingRaw[4 * 200 + 3] = (50, 402)  // a spine corner moved onto the next tooth's edge
        var crossingRaw = raw
        crossingRaw[4 * 100 + 2] = (100, 203.5)  // a tooth's edge crosses the next tooth
        let bent = place(bentRaw), touching = place(touchingRaw), crossing = place(crossingRaw)
        let hole = place([(10.0, 0.2), (20.0, 0.2), (20.0, 1.0), (10.0, 0.8), (10.0, 0.2)])
        for polygon in [Polygon(exterior: bent), Polygon(exterior: touching), Polygon(exterior: crossing), Polygon(exterior: good, holes: [hole])] {
            let expected = Self.outcome { () throws(ValidationError) in try ReferenceValidator.validate(polygon) }
            #expect(expected != nil)
            #expect(Self.outcome { () throws(ValidationError) in try polygon.validate() } == expected)
        }
    }

    @Test("size limits: 10,000 positions a ring, 64 rings, 10,000 positions a polygon; over them geometry_too_large names the ring")
    func sizeLimits() {
        let square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)].map { Coordinate(longitude: $0.0, latitude: $0.1) }
        let longRing = Array(repeating: square[0], count: 10_001)
        #expect(Self.outcome { () throws(ValidationError) in try Polygon(exterior: square, holes: [longRing]).checkSize() } == ValidationError(.geometryTooLarge, "Ring 1 has 10001 positions; at most 10000 a ring are taken. Simplify the outline.", field: "rings[1]"))
        #expect(Self.outcome { () throws(ValidationError) in try Polygon(rings: Array(repeating: square, count: 65)).checkSize() }?.field == "rings")
        #expect(Self.outcome { () throws(ValidationError) in try Polygon(rings: Array(repeating: square, count: 64)).checkSize() } == nil)
        let many = Array(repeating: Array(repeating: square[0], count: 10_000), count: 6)
        #expect(Self.outcome { () throws(ValidationError) in try Polygon(rings: many).checkSize() }?.code == .geometryTooLarge)
        #expect(Self.outcome { () throws(ValidationError) in try Polygon(rings: Array(many.prefix(1))).checkSize() } == nil)
    }
}
