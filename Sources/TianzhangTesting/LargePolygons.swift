import TianzhangDomain

/// Valid polygons as large as the limits allow, shaped to be the hard case for a sweep: the teeth of a
/// comb span its whole width, so one sweep line crosses every tooth at once. For tests and benchmarks.
public enum LargePolygons {
    /// A simple ring of exactly `positions` positions (closing included, at least 11) in the box: a
    /// comb with a spine on the west side and teeth reaching east across the box.
    public static func comb(positions: Int, minLongitude x0: Double, minLatitude y0: Double, width: Double, height: Double) -> [Coordinate] {
        let teeth = (positions - 3) / 4
        let extra = positions - (4 * teeth + 3)
        let d = height / Double(2 * teeth), spine = x0 + width * 0.05, east = x0 + width
        var ring = [Coordinate(longitude: x0, latitude: y0)]
        for k in 0..<teeth {
            let y = y0 + Double(2 * k) * d
            ring += [Coordinate(longitude: east, latitude: y), Coordinate(longitude: east, latitude: y + d),
                     Coordinate(longitude: spine, latitude: y + d), Coordinate(longitude: spine, latitude: y + 2 * d)]
        }
        let top = y0 + Double(2 * teeth) * d
        ring.append(Coordinate(longitude: x0, latitude: top))
        for j in 0..<extra { ring.append(Coordinate(longitude: x0, latitude: top - (top - y0) * Double(j + 1) / Double(extra + 1))) }
        ring.append(ring[0])
        return ring
    }

    /// A rectangle of exactly `positions` positions (at least 5) whose south edge zigzags outwards.
    public static func zigzagRectangle(positions: Int, minLongitude x0: Double, minLatitude y0: Double, width: Double, height: Double) -> [Coordinate] {
        let inner = positions - 5
        var ring = [Coordinate(longitude: x0, latitude: y0)]
        for i in 0..<inner {
            ring.append(Coordinate(longitude: x0 + width * Double(i + 1) / Double(inner + 1), latitude: i % 2 == 0 ? y0 - height * 0.01 : y0))
        }
        ring += [Coordinate(longitude: x0 + width, latitude: y0), Coordinate(longitude: x0 + width, latitude: y0 + height),
                 Coordinate(longitude: x0, latitude: y0 + height), Coordinate(longitude: x0, latitude: y0)]
        return ring
    }

    /// The largest valid polygon `limits` allow with `rings` rings: `polygonVerticesMax` positions in
    /// all, holes (combs, in a grid inside the exterior) with an equal share each, the exterior the rest.
    /// About 1 km across, near 118.3° E, 35.0° N.
    public static func largest(rings: Int, limits: GeometryLimits = .v1) -> Polygon {
        let size = 0.01, x0 = 118.3, y0 = 35.0
        let holes = rings - 1
        let each = min(limits.ringVerticesMax, limits.polygonVerticesMax / rings)
        let exterior = zigzagRectangle(positions: min(limits.ringVerticesMax, limits.polygonVerticesMax - holes * each), minLongitude: x0, minLatitude: y0, width: size, height: size)
        guard holes > 0 else { return Polygon(exterior: exterior) }
        var columns = 1
        while columns * columns < holes { columns += 1 }
        let cell = size / Double(columns)
        let holeRings = (0..<holes).map { h in
            comb(positions: each, minLongitude: x0 + Double(h % columns) * cell + cell * 0.1, minLatitude: y0 + Double(h / columns) * cell + cell * 0.1,
                 width: cell * 0.8, height: cell * 0.8)
        }
        return Polygon(exterior: exterior, holes: holeRings)
    }
}
