extension BoundingBox {
    /// The box as a closed counter-clockwise polygon (south-west corner first).
    public var polygon: Polygon {
        let corners = [
            Coordinate(longitude: minLongitude, latitude: minLatitude), Coordinate(longitude: maxLongitude, latitude: minLatitude),
            Coordinate(longitude: maxLongitude, latitude: maxLatitude), Coordinate(longitude: minLongitude, latitude: maxLatitude),
        ]
        return Polygon(exterior: corners + [corners[0]])
    }
}

extension Polygon {
    /// Whether the exterior ring is convex (no turn in the other direction; straight runs allowed).
    public var isConvex: Bool {
        let ring = exterior.dropLast().map { ($0.longitude, $0.latitude) }
        guard ring.count >= 3 else { return false }
        var sign = 0.0
        for i in 0..<ring.count {
            let turn = Planar.orientation(ring[i], ring[(i + 1) % ring.count], ring[(i + 2) % ring.count])
            if turn == 0 { continue }
            if sign == 0 { sign = turn } else if (sign > 0) != (turn > 0) { return false }
        }
        return sign != 0
    }

    /// The area in square metres of the part of this polygon (holes subtracted) inside `convex`.
    ///
    /// Method: each ring is clipped by the convex polygon's exterior (Sutherland–Hodgman, exact for a
    /// convex clip region and any simple subject ring; the clipped ring may run along the clip edges,
    /// which adds no area), and the clipped rings' areas are taken on the ellipsoid as in
    /// `areaSquareMetres`. When `convex` is not convex the result is only an estimate.
    public func overlapSquareMetres(with convex: Polygon) -> Double {
        guard boundingBox.intersects(convex.boundingBox) else { return 0 }
        var clip = convex.exterior.dropLast().map { ($0.longitude, $0.latitude) }
        guard clip.count >= 3 else { return 0 }
        // Counter-clockwise, so "inside" is to the left of every edge.
        if Self.signedArea(clip) < 0 { clip.reverse() }
        func clipped(_ ring: [Coordinate]) -> Double {
            var output = ring.dropLast().map { ($0.longitude, $0.latitude) }
            for i in 0..<clip.count {
                guard !output.isEmpty else { break }
                let a = clip[i], b = clip[(i + 1) % clip.count]
                let input = output
                output = []
                for j in 0..<input.count {
                    let current = input[j], previous = input[(j + input.count - 1) % input.count]
                    let currentIn = Planar.orientation(a, b, current) >= 0, previousIn = Planar.orientation(a, b, previous) >= 0
                    if currentIn {
                        if !previousIn { output.append(Self.crossing(previous, current, a, b)) }
                        output.append(current)
                    } else if previousIn {
                        output.append(Self.crossing(previous, current, a, b))
                    }
                }
            }
            guard output.count >= 3 else { return 0 }
            let coordinates = output.map { Coordinate(longitude: $0.0, latitude: $0.1) }
            return Polygon(exterior: coordinates + [coordinates[0]]).areaSquareMetres
        }
        guard let exterior = rings.first else { return 0 }
        return max(0, clipped(exterior) - holes.reduce(0) { $0 + clipped($1) })
    }

    /// Twice the signed planar area of an open ring: > 0 counter-clockwise.
    static func signedArea(_ ring: [(Double, Double)]) -> Double {
        var sum = 0.0
        for i in 0..<ring.count {
            let p = ring[i], q = ring[(i + 1) % ring.count]
            sum += p.0 * q.1 - q.0 * p.1
        }
        return sum
    }

    /// Where segment pq crosses the line through ab (pq is known to cross it).
    static func crossing(_ p: (Double, Double), _ q: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> (Double, Double) {
        let dp = Planar.orientation(a, b, p), dq = Planar.orientation(a, b, q)
        let t = dp / (dp - dq)
        return (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))
    }
}
