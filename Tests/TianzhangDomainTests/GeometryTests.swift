import Foundation
import Testing
@testable import TianzhangDomain

func ring(_ points: [(Double, Double)]) -> [Coordinate] { points.map { Coordinate(longitude: $0.0, latitude: $0.1) } }
func square(_ lon: Double, _ lat: Double, _ size: Double) -> [Coordinate] {
    ring([(lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat)])
}

@Suite("Geometry")
struct GeometryTests {
    // MARK: validation

    func expectInvalid(_ polygon: Polygon, field: String, containing words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try polygon.validate()
            Issue.record("expected invalid_geometry at \(field)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidGeometry, sourceLocation: sourceLocation)
            #expect(error.field == field, sourceLocation: sourceLocation)
            #expect(error.message.contains(words), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func validSquareWithHolePasses() throws {
        try Polygon(exterior: square(118.3, 35.0, 0.01), holes: [square(118.303, 35.003, 0.002)]).validate()
    }

    @Test func everyInvalidShapeIsRefusedWithItsField() {
        expectInvalid(Polygon(rings: []), field: "rings", containing: "exterior ring")
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 0), (1, 1), (0, 1)])), field: "rings[0]", containing: "not closed")
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 0), (0, 0)])), field: "rings[0]", containing: "at least 4")
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 0), (1, 0), (0, 0)])), field: "rings[0]", containing: "3 distinct")
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 0), (.nan, 1), (0, 0)])), field: "rings[0][2]", containing: "not finite")
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 0), (.infinity, 1), (0, 0)])), field: "rings[0][2]", containing: "not finite")
        expectInvalid(Polygon(exterior: ring([(0, 0), (181, 0), (1, 1), (0, 0)])), field: "rings[0][1]", containing: "out of range")
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 91), (1, 1), (0, 0)])), field: "rings[0][1]", containing: "out of range")
        // A bow-tie crosses itself.
        expectInvalid(Polygon(exterior: ring([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])), field: "rings[0]", containing: "self-intersects: segment 0 meets segment 2")
        // A spike folding back on itself.
        expectInvalid(Polygon(exterior: ring([(0, 0), (2, 0), (1, 0), (1, 1), (0, 0)])), field: "rings[0]", containing: "self-intersects")
        // A figure-eight touching itself at a vertex.
        expectInvalid(Polygon(exterior: ring([(0, 0), (2, 0), (1, 1), (2, 2), (0, 2), (1, 1), (0, 0)])), field: "rings[0]", containing: "self-intersects")
        // Holes: outside, crossing the exterior, crossing each other, nested.
        expectInvalid(Polygon(exterior: square(0, 0, 1), holes: [square(5, 5, 1)]), field: "rings[1]", containing: "outside")
        expectInvalid(Polygon(exterior: square(0, 0, 1), holes: [square(0.5, 0.5, 1)]), field: "rings[1]", containing: "crosses the exterior")
        expectInvalid(Polygon(exterior: square(0, 0, 10), holes: [square(1, 1, 3), square(2, 2, 3)]), field: "rings[2]", containing: "touch or cross")
        expectInvalid(Polygon(exterior: square(0, 0, 10), holes: [square(1, 1, 6), square(2, 2, 1)]), field: "rings[2]", containing: "nested")
    }

    // MARK: area

    /// The area of an ellipsoidal quadrilateral bounded by meridians and parallels, in closed form
    /// (written here independently of the implementation).
    func zoneArea(lat1: Double, lat2: Double, dLon: Double) -> Double {
        let a = 6_378_137.0, f = 1 / 298.257_223_563
        let e2 = f * (2 - f), e = e2.squareRoot(), b2 = a * a * (1 - e2)
        func F(_ latitude: Double) -> Double {
            let s = sin(latitude * .pi / 180)
            return s / (1 - e2 * s * s) + atanh(e * s) / e
        }
        return b2 / 2 * (dLon * .pi / 180) * (F(lat2) - F(lat1))
    }

    @Test("an eighth of the ellipsoid matches the published WGS84 surface area within 1e-9")
    func octantOfTheEarth() {
        let octant = Polygon(exterior: ring([(0, 0), (90, 0), (90, 90), (0, 90), (0, 0)]))
        let published = 510_065_621_724_088.5  // m², WGS84 total surface area
        #expect(abs(octant.areaSquareMetres - published / 8) / (published / 8) < 1e-9)
    }

    @Test("a 1°×1° cell at 35°N matches the closed-form ellipsoidal area within 1e-9", arguments: [0.0, 35.0, 53.0])
    func oneDegreeCell(latitude: Double) {
        let cell = Polygon(exterior: square(118, latitude, 1))
        let expected = zoneArea(lat1: latitude, lat2: latitude + 1, dLon: 1)
        #expect(abs(cell.areaSquareMetres - expected) / expected < 1e-9)
    }

    @Test("a 100 m × 100 m field is 15 mu within 0.1%")
    func fifteenMu() {
        // Metres per degree at 35°N from the standard series (independent of the implementation).
        let phi = 35.0 * Double.pi / 180
        let perLat = 111_132.954 - 559.822 * cos(2 * phi) + 1.175 * cos(4 * phi)
        let perLon = 111_412.84 * cos(phi) - 93.5 * cos(3 * phi)
        let field = Polygon(exterior: ring([(118, 35), (118 + 100 / perLon, 35), (118 + 100 / perLon, 35 + 100 / perLat), (118, 35 + 100 / perLat), (118, 35)]))
        #expect(abs(field.areaMu - 15) / 15 < 0.001, "\(field.areaMu) mu")
    }

    @Test func holesAreSubtractedAndOrientationDoesNotMatter() {
        let outer = square(118, 35, 0.01)
        let hole = square(118.002, 35.002, 0.004)
        let full = Polygon(exterior: outer).areaSquareMetres
        let holed = Polygon(exterior: outer, holes: [hole]).areaSquareMetres
        let holeArea = Polygon(exterior: hole).areaSquareMetres
        #expect(abs(holed - (full - holeArea)) < 1e-6 * full)
        #expect(abs(Polygon(exterior: outer.reversed()).areaSquareMetres - full) < 1e-9 * full)
        #expect(holeArea > 0.15 * full && holeArea < 0.17 * full)
    }

    // MARK: geofence

    let field = Polygon(exterior: square(118.3, 35.0, 0.001), holes: [square(118.3004, 35.0004, 0.0002)])

    @Test func geofenceInsideOutsideEdgeVertexHole() throws {
        #expect(field.geofence(Coordinate(longitude: 118.3002, latitude: 35.0002), toleranceMetres: 5) == .inside)
        #expect(field.geofence(Coordinate(longitude: 118.3005, latitude: 35.0), toleranceMetres: 5) == .inside, "on the edge counts as inside")
        #expect(field.geofence(Coordinate(longitude: 118.3, latitude: 35.0), toleranceMetres: 5) == .inside, "on a vertex counts as inside")
        // ~3.6 m beyond the north-east corner, diagonally: within a 5 m tolerance.
        let nearVertex = field.geofence(Coordinate(longitude: 118.30103, latitude: 35.00102), toleranceMetres: 5)
        guard case .withinTolerance(let d) = nearVertex else { Issue.record("\(nearVertex)"); return }
        #expect(d > 3 && d < 4.2, "\(d) m")
        // ~91 m east: outside.
        guard case .outside(let far) = field.geofence(Coordinate(longitude: 118.302, latitude: 35.0005), toleranceMetres: 5) else { Issue.record("not outside"); return }
        #expect(abs(far - 91.2) < 1.5, "\(far) m")
        // In the hole: outside the parcel, ~9 m from the hole's edge.
        guard case .outside(let inHole) = field.geofence(Coordinate(longitude: 118.3005, latitude: 35.0005), toleranceMetres: 5) else { Issue.record("hole counted as inside"); return }
        #expect(inHole > 8 && inHole < 10, "\(inHole) m")
    }

    // MARK: overlap and interior point

    @Test func overlapsButNotWhenOnlyTouching() {
        let a = Polygon(exterior: square(0, 0, 1))
        #expect(a.overlaps(Polygon(exterior: square(0.5, 0.5, 1))))
        #expect(a.overlaps(Polygon(exterior: square(0.2, 0.2, 0.3))), "containment is overlap")
        #expect(Polygon(exterior: square(0.2, 0.2, 0.3)).overlaps(a))
        #expect(a.overlaps(a))
        #expect(!a.overlaps(Polygon(exterior: square(1, 0, 1))), "sharing an edge is not overlap")
        #expect(!a.overlaps(Polygon(exterior: square(1, 1, 1))), "sharing a corner is not overlap")
        #expect(!a.overlaps(Polygon(exterior: square(3, 3, 1))))
    }

    @Test func interiorPointOfAConcaveShapeIsInside() {
        // A U shape: its bounding-box centre lies in the notch, outside the polygon.
        let u = Polygon(exterior: ring([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3), (0, 0)]))
        #expect(!u.contains(Coordinate(longitude: 1.5, latitude: 1.5)))
        let p = u.interiorPoint
        #expect(u.contains(p) && u.distanceToBoundary(p) > 0)
        #expect(field.contains(field.interiorPoint))
    }
}
