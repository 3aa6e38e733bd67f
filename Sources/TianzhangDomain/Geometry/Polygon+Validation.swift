import Foundation

/// How large a polygon a receiver takes (Protocol/SPEC.md §8). Checked before any geometric work, so
/// the cost of validating the largest polygon allowed is known in advance (docs/performance.md).
public struct GeometryLimits: Hashable, Sendable, Codable {
    /// Positions in one ring, the closing repeat included.
    public var ringVerticesMax: Int
    /// Rings in one polygon: the exterior and its holes.
    public var ringsMax: Int
    /// Positions in all rings of one polygon together.
    public var polygonVerticesMax: Int

    public init(ringVerticesMax: Int = 10_000, ringsMax: Int = 64, polygonVerticesMax: Int = 10_000) {
        self.ringVerticesMax = ringVerticesMax
        self.ringsMax = ringsMax
        self.polygonVerticesMax = polygonVerticesMax
    }

    /// The protocol v1 limits.
    public static let v1 = GeometryLimits()
}

extension ValidationError.Code {
    /// A polygon with more rings or positions than the receiver's `GeometryLimits`.
    public static let geometryTooLarge: Self = "geometry_too_large"
}

extension Polygon {
    /// Positions in all rings together (closing repeats included).
    public var vertexCount: Int { rings.reduce(0) { $0 + $1.count } }

    /// Checks the polygon's size against `limits`: linear in the number of rings, nothing else is read.
    /// - Throws: `ValidationError` (`geometry_too_large`) at `rings` or `rings[r]`.
    public func checkSize(_ limits: GeometryLimits = .v1) throws(ValidationError) {
        guard rings.count <= limits.ringsMax else {
            throw ValidationError(.geometryTooLarge, "The polygon has \(rings.count) rings; at most \(limits.ringsMax) (an exterior and \(limits.ringsMax - 1) holes) are taken.", field: "rings")
        }
        for (r, ring) in rings.enumerated() where ring.count > limits.ringVerticesMax {
            throw ValidationError(.geometryTooLarge, "Ring \(r) has \(ring.count) positions; at most \(limits.ringVerticesMax) a ring are taken. Simplify the outline.", field: "rings[\(r)]")
        }
        let total = vertexCount
        guard total <= limits.polygonVerticesMax else {
            throw ValidationError(.geometryTooLarge, "The polygon has \(total) positions in all; at most \(limits.polygonVerticesMax) are taken. Simplify the outline.", field: "rings")
        }
    }

    /// Validates: at least one ring; every ring closed, with at least 4 positions of which 3 distinct;
    /// finite coordinates within ±180° / ±90°; no ring touching or crossing itself; holes inside the
    /// exterior and apart from it and from each other; a non-zero area.
    ///
    /// Cost: O(n log n) in the number of positions n (a Shamos–Hoey sweep per ring, and a few sweeps over
    /// the rings together to find the first hole that meets an earlier ring), plus O(rings × n) for the
    /// point-in-ring tests of holes. The answer is the one the pairwise check gives (same code and field;
    /// the same message up to 1,000 segments a ring — above that, the segments named are a pair that
    /// meets, not necessarily the first such pair). Size is not limited here: see `checkSize`.
    /// - Throws: `ValidationError` (`invalid_geometry`) with `field` such as `rings[0]` or `rings[1][3]`.
    public func validate() throws(ValidationError) {
        if rings.isEmpty { throw ValidationError(.invalidGeometry, "A polygon needs an exterior ring; it has none.", field: "rings") }
        var points: [[(Double, Double)]] = []
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
            let distinct = Set(ring.dropLast()).count
            guard distinct >= 3 else {
                throw ValidationError(.invalidGeometry, "Ring \(r) has fewer than 3 distinct positions.", field: "rings[\(r)]")
            }
            let xy = xy(ring)
            try Self.checkSimple(xy, ring: r, hasRepeats: distinct < ring.count - 1)
            points.append(xy)
        }
        if rings.count > 1 { try checkHoles(points) }
        guard areaSquareMetres > 0 else {
            throw ValidationError(.invalidGeometry, "The polygon has no area.", field: "rings[0]")
        }
    }

    /// Rings with more segments than this name the pair the sweep found rather than the first pair.
    static let exactMessageSegmentsMax = 1_000
    /// The most segment pairs the pairwise fallback tries when the sweep cannot order nearly
    /// degenerate input consistently (beyond it the polygon is refused as unverifiable).
    static let pairwiseFallbackPairsMax = 50_000_000

    /// Throws when two non-adjacent segments of the ring share a point, or two adjacent ones fold back.
    static func checkSimple(_ ring: [(Double, Double)], ring r: Int, hasRepeats: Bool) throws(ValidationError) {
        let n = ring.count - 1  // segments
        var found: ValidationError? = nil
        // Fold-backs: adjacent segments collinear and pointing the same way from their shared vertex.
        for k in 0..<n where found == nil {
            let shared = ring[k], a = ring[k == 0 ? n - 1 : k - 1], b = ring[k + 1]
            if Planar.orientation(a, shared, b) == 0 && ((a.0 - shared.0) * (b.0 - shared.0) + (a.1 - shared.1) * (b.1 - shared.1)) > 0 {
                found = ValidationError(.invalidGeometry, "Ring \(r) self-intersects: segments \(k == 0 ? 0 : k - 1) and \(k == 0 ? n - 1 : k) fold back onto each other.", field: "rings[\(r)]")
            }
        }
        // A repeated position (with 4 or more segments) is touched by two non-adjacent segments.
        if found == nil && hasRepeats {
            found = ValidationError(.invalidGeometry, "Ring \(r) self-intersects: a position repeats.", field: "rings[\(r)]")
        }
        if found == nil {
            let segments = (0..<n).map { SegmentSweep.Segment(ring[$0], ring[$0 + 1]) }
            func adjacent(_ i: Int, _ j: Int) -> Bool { abs(i - j) == 1 || abs(i - j) == n - 1 }
            switch SegmentSweep.run(segments, conflicts: { i, j in !adjacent(i, j) && Planar.intersect(ring[i], ring[i + 1], ring[j], ring[j + 1]) }) {
            case .clear: return
            case .conflict(let i, let j):
                found = ValidationError(.invalidGeometry, "Ring \(r) self-intersects: segment \(min(i, j)) meets segment \(max(i, j)).", field: "rings[\(r)]")
            case .inconsistent:
                guard n * n / 2 <= pairwiseFallbackPairsMax else { throw unverifiable(r) }
                guard let error = firstSelfIntersection(ring, ring: r) else { return }
                throw error
            }
        }
        guard let found else { return }
        if n <= exactMessageSegmentsMax, let exact = firstSelfIntersection(ring, ring: r) { throw exact }
        throw found
    }

    static func unverifiable(_ r: Int) -> ValidationError {
        ValidationError(.invalidGeometry, "Ring \(r) is too nearly degenerate to be verified as simple (segments almost collinear or touching); simplify it.", field: "rings[\(r)]")
    }

    /// The pairwise check (O(n²)): the first pair of segments, in index order, that meet or fold back.
    static func firstSelfIntersection(_ ring: [(Double, Double)], ring r: Int) -> ValidationError? {
        let n = ring.count - 1
        for i in 0..<n {
            for j in (i + 1)..<n {
                let adjacent = j == i + 1 || (i == 0 && j == n - 1)
                if adjacent {
                    let shared = j == i + 1 ? ring[j] : ring[i]
                    let a = j == i + 1 ? ring[i] : ring[i + 1], b = j == i + 1 ? ring[j + 1] : ring[j]
                    if Planar.orientation(a, shared, b) == 0 && ((a.0 - shared.0) * (b.0 - shared.0) + (a.1 - shared.1) * (b.1 - shared.1)) > 0 {
                        return ValidationError(.invalidGeometry, "Ring \(r) self-intersects: segments \(i) and \(j) fold back onto each other.", field: "rings[\(r)]")
                    }
                    continue
                }
                if Planar.intersect(ring[i], ring[i + 1], ring[j], ring[j + 1]) {
                    return ValidationError(.invalidGeometry, "Ring \(r) self-intersects: segment \(i) meets segment \(j).", field: "rings[\(r)]")
                }
            }
        }
        return nil
    }

    /// The holes' checks, in the pairwise check's order: the first hole (by index) that meets the
    /// exterior, lies outside it, or meets or nests with an earlier hole is the one reported.
    func checkHoles(_ points: [[(Double, Double)]]) throws(ValidationError) {
        let count = rings.count
        let exterior = points[0]
        func nested(_ h: Int, _ k: Int) -> Bool { Planar.inside(points[h][0], ring: points[k]) || Planar.inside(points[k][0], ring: points[h]) }
        // Point-in-ring failures: O(rings × n).
        let firstCheap = (1..<count).first { h in !Planar.inside(points[h][0], ring: exterior) || (1..<h).contains { nested(h, $0) } } ?? count
        // A position shared by two rings: they touch.
        var owner: [Coordinate: Int] = [:]
        var firstShared = count
        search: for (r, ring) in rings.enumerated() {
            for point in ring.dropLast() {
                if owner[point] != nil { firstShared = r; break search }
                owner[point] = r
            }
        }
        // The first hole whose segments meet an earlier ring: the shortest prefix of rings that has a
        // meeting (binary search over prefixes; each is one sweep).
        var firstMeeting = count
        let upper = min(firstCheap, firstShared)
        if upper > 1, try Self.ringsMeet(points, through: upper - 1) {
            var low = 1, high = upper - 1
            while low < high {
                let middle = (low + high) / 2
                if try Self.ringsMeet(points, through: middle) { high = middle } else { low = middle + 1 }
            }
            firstMeeting = low
        }
        let h = min(firstCheap, firstShared, firstMeeting)
        guard h < count else { return }
        let hole = points[h]
        if let (i, j) = try meeting(h, 0, points) {
            throw ValidationError(.invalidGeometry, "Hole \(h) touches or crosses the exterior ring (its segment \(i) meets exterior segment \(j)).", field: "rings[\(h)]")
        }
        guard Planar.inside(hole[0], ring: exterior) else {
            throw ValidationError(.invalidGeometry, "Hole \(h) lies outside the exterior ring.", field: "rings[\(h)]")
        }
        for k in 1..<h {
            if try meeting(h, k, points) != nil {
                throw ValidationError(.invalidGeometry, "Holes \(k) and \(h) touch or cross.", field: "rings[\(h)]")
            }
            if nested(h, k) {
                throw ValidationError(.invalidGeometry, "Holes \(k) and \(h) are nested.", field: "rings[\(h)]")
            }
        }
    }

    /// Whether a segment of one of rings 0…`last` meets a segment of another (every ring is simple and
    /// no position is shared between them). One sweep.
    static func ringsMeet(_ points: [[(Double, Double)]], through last: Int) throws(ValidationError) -> Bool {
        var segments: [SegmentSweep.Segment] = []
        var owner: [(ring: Int, index: Int)] = []
        for r in 0...last {
            for i in 0..<(points[r].count - 1) {
                segments.append(.init(points[r][i], points[r][i + 1]))
                owner.append((r, i))
            }
        }
        func meet(_ a: Int, _ b: Int) -> Bool {
            owner[a].ring != owner[b].ring && Planar.intersect(segments[a].p, segments[a].q, segments[b].p, segments[b].q)
        }
        switch SegmentSweep.run(segments, conflicts: meet) {
        case .clear: return false
        case .conflict: return true
        case .inconsistent:
            // Pairwise between rings (only for input the sweep cannot order).
            guard segments.count * segments.count / 2 <= pairwiseFallbackPairsMax else { throw unverifiable(last) }
            for a in 0..<segments.count {
                for b in (a + 1)..<segments.count where meet(a, b) { return true }
            }
            return false
        }
    }

    /// A segment of ring `h` and one of ring `k` that meet (the first such pair by index when the
    /// rings are small), or `nil`.
    func meeting(_ h: Int, _ k: Int, _ points: [[(Double, Double)]]) throws(ValidationError) -> (Int, Int)? {
        let a = points[h], b = points[k]
        func pairwise() -> (Int, Int)? {
            for i in 0..<(a.count - 1) {
                for j in 0..<(b.count - 1) where Planar.intersect(a[i], a[i + 1], b[j], b[j + 1]) { return (i, j) }
            }
            return nil
        }
        let exact = (a.count - 1) * (b.count - 1) <= Self.exactMessageSegmentsMax * Self.exactMessageSegmentsMax
        // A shared position: the segments starting there meet.
        var positions: [Coordinate: Int] = [:]
        for (j, point) in rings[k].dropLast().enumerated() { positions[point] = j }
        for (i, point) in rings[h].dropLast().enumerated() {
            if let j = positions[point] { return exact ? (pairwise() ?? (i, j)) : (i, j) }
        }
        let segments = (0..<(a.count - 1)).map { SegmentSweep.Segment(a[$0], a[$0 + 1]) } + (0..<(b.count - 1)).map { SegmentSweep.Segment(b[$0], b[$0 + 1]) }
        let split = a.count - 1
        switch SegmentSweep.run(segments, conflicts: { x, y in
            (x < split) != (y < split) && Planar.intersect(segments[x].p, segments[x].q, segments[y].p, segments[y].q)
        }) {
        case .clear: return nil
        case .conflict(let x, let y):
            let (i, j) = x < split ? (x, y - split) : (y, x - split)
            return exact ? (pairwise() ?? (i, j)) : (i, j)
        case .inconsistent:
            guard (a.count - 1) * (b.count - 1) <= Self.pairwiseFallbackPairsMax else { throw Self.unverifiable(h) }
            return pairwise()
        }
    }
}

/// Whether any two of a set of segments "conflict" (a caller's predicate, true only for segments that
/// share a point), by the Shamos–Hoey sweep: O(n log n) for n segments.
///
/// Preconditions (the callers establish them): no two segments share an endpoint unless the caller
/// allows them to meet there and they meet nowhere else, and no segment has zero length. Then, if any
/// conflicting pair exists, the two segments of the leftmost such meeting are neighbours in the sweep
/// order before the sweep passes that point, so one of them is found. Every pair returned satisfies
/// `conflicts`. The order of segments on the sweep line uses only orientation tests on given
/// positions; if floating-point rounding makes it inconsistent (nearly degenerate input), the sweep
/// says so (`inconsistent`) rather than answer.
enum SegmentSweep {
    struct Segment {
        /// The lexicographically smaller endpoint (by x, then y) and the larger one.
        var p: (Double, Double)
        var q: (Double, Double)

        init(_ a: (Double, Double), _ b: (Double, Double)) {
            if SegmentSweep.precedes(b, a) { p = b; q = a } else { p = a; q = b }
        }
    }

    enum Outcome: Equatable {
        case clear
        case conflict(Int, Int)
        case inconsistent
    }

    static func precedes(_ a: (Double, Double), _ b: (Double, Double)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }

    static func run(_ segments: [Segment], conflicts: (Int, Int) -> Bool) -> Outcome {
        let n = segments.count
        guard n > 1 else { return .clear }
        // Events: 2s inserts segment s at its p, 2s+1 removes it at its q; at one point, inserts first.
        var events = Array(0..<(2 * n))
        events.sort { x, y in
            let px = x & 1 == 0 ? segments[x >> 1].p : segments[x >> 1].q
            let py = y & 1 == 0 ? segments[y >> 1].p : segments[y >> 1].q
            if precedes(px, py) { return true }
            if precedes(py, px) { return false }
            return (x & 1, x >> 1) < (y & 1, y >> 1)
        }
        let tree = Treap(count: n)
        var suspects: [(Int, Int)] = []
        /// Whether segment a lies below segment b where both cross the sweep line.
        func below(_ a: Int, _ b: Int) -> Bool {
            if a == b { return false }
            let sa = segments[a], sb = segments[b]
            let aLater = precedes(sb.p, sa.p) || (sa.p == sb.p && a > b)
            let probe = aLater ? a : b, base = aLater ? b : a
            let sp = segments[probe], sbase = segments[base]
            var o = Planar.orientation(sbase.p, sbase.q, sp.p)
            if o == 0 {
                suspects.append((base, probe))
                o = Planar.orientation(sbase.p, sbase.q, sp.q)
            }
            let probeAbove = o != 0 ? o > 0 : probe > base
            return aLater ? !probeAbove : probeAbove
        }
        for event in events {
            let s = event >> 1
            if event & 1 == 0 {
                let (l, r) = tree.split(tree.root) { below($0, s) }
                let predecessor = tree.last(l), successor = tree.first(r)
                tree.root = tree.merge(tree.merge(l, s), r)
                if predecessor >= 0 && conflicts(predecessor, s) { return .conflict(predecessor, s) }
                if successor >= 0 && conflicts(s, successor) { return .conflict(s, successor) }
            } else {
                let (l, r) = tree.split(tree.root) { below($0, s) }
                let (m, rest) = tree.split(r) { !below(s, $0) }
                guard m == s, tree.left[m] < 0, tree.right[m] < 0 else { return .inconsistent }
                let predecessor = tree.last(l), successor = tree.first(rest)
                tree.root = tree.merge(l, rest)
                if predecessor >= 0 && successor >= 0 && conflicts(predecessor, successor) { return .conflict(predecessor, successor) }
            }
            for (a, b) in suspects where conflicts(a, b) { return .conflict(a, b) }
            suspects.removeAll(keepingCapacity: true)
        }
        return .clear
    }

    /// A treap over segment indices (node i is segment i), ordered by the caller's predicate; random
    /// priorities make its depth O(log n) expected whatever the input.
    final class Treap {
        var left: [Int], right: [Int], priority: [UInt64]
        var root = -1

        init(count: Int) {
            left = Array(repeating: -1, count: count)
            right = Array(repeating: -1, count: count)
            var generator = SystemRandomNumberGenerator()
            priority = (0..<count).map { _ in generator.next() }
        }

        /// Splits `t` into the nodes for which `goesLeft` holds (a prefix of the order) and the rest.
        func split(_ t: Int, _ goesLeft: (Int) -> Bool) -> (Int, Int) {
            if t < 0 { return (-1, -1) }
            if goesLeft(t) {
                let (l, r) = split(right[t], goesLeft)
                right[t] = l
                return (t, r)
            }
            let (l, r) = split(left[t], goesLeft)
            left[t] = r
            return (l, t)
        }

        func merge(_ a: Int, _ b: Int) -> Int {
            if a < 0 { return b }
            if b < 0 { return a }
            if priority[a] > priority[b] {
                right[a] = merge(right[a], b)
                return a
            }
            left[b] = merge(a, left[b])
            return b
        }

        func first(_ t: Int) -> Int {
            var t = t
            while t >= 0 && left[t] >= 0 { t = left[t] }
            return t
        }

        func last(_ t: Int) -> Int {
            var t = t
            while t >= 0 && right[t] >= 0 { t = right[t] }
            return t
        }
    }
}
