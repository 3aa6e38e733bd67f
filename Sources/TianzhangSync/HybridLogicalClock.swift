/// A hybrid logical clock stamp (Kulkarni et al., 2014): physical milliseconds plus a logical counter.
///
/// Stamps order writes across replicas: they never go backwards at a replica, they move past every
/// stamp the replica has seen, and they stay close to physical time. Ties between replicas are broken
/// by the change's origin (see `ChangeID`), so the order is total.
public struct HLC: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since the epoch (the largest physical time seen).
    public var wall: Int64
    /// Logical counter within the same `wall`.
    public var counter: UInt32

    public init(wall: Int64, counter: UInt32 = 0) {
        self.wall = wall
        self.counter = counter
    }

    public static let zero = HLC(wall: 0)

    public static func < (lhs: HLC, rhs: HLC) -> Bool {
        (lhs.wall, lhs.counter) < (rhs.wall, rhs.counter)
    }

    /// Wire form: `<wall>-<counter>` in decimal, e.g. `1763884800000-3`.
    public var description: String { "\(wall)-\(counter)" }

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let wall: Int64 = PlainDecimal.parse(parts[0]), let counter: UInt32 = PlainDecimal.parse(parts[1]) else { return nil }
        self.init(wall: wall, counter: counter)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = HLC(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not an HLC stamp (<wall ms>-<counter>).")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A replica's clock state. Pure: the caller passes the physical time in.
public struct HLCClock: Hashable, Sendable, Codable {
    public private(set) var last: HLC
    /// How far ahead of the receiver's physical time a received stamp may be before it is refused.
    public var futureToleranceMilliseconds: Int64

    public init(last: HLC = .zero, futureToleranceMilliseconds: Int64 = 5 * 60_000) {
        self.last = last
        self.futureToleranceMilliseconds = futureToleranceMilliseconds
    }

    /// A stamp for a local event at physical time `physical` (ms). Never goes backwards, even when the
    /// device clock does (a phone whose clock was set hours back keeps counting from what it had seen).
    public mutating func tick(physical: Int64) -> HLC {
        if physical > last.wall {
            last = HLC(wall: physical, counter: 0)
        } else {
            last = HLC(wall: last.wall, counter: last.counter &+ 1)
        }
        return last
    }

    /// A stamp for a local event whose wall never exceeds `ceiling` (the county's time plus the allowed
    /// drift, SPEC §2.4): a clock that already ran past it (a device clock that was hours ahead) is
    /// brought back to the ceiling and counts on from there. `nil`: no ceiling (the hub; a replica that
    /// has not learned the county's time yet).
    public mutating func tick(physical: Int64, ceiling: Int64?) -> HLC {
        guard let ceiling else { return tick(physical: physical) }
        if last.wall > ceiling { last = HLC(wall: ceiling, counter: last.counter) }
        return tick(physical: min(physical, ceiling))
    }

    /// Brings a clock that ran ahead of `wall` back to it (SPEC §2.4: what it costs). Does nothing to a
    /// clock at or behind `wall`.
    /// - Returns: how many milliseconds the clock was brought back (0: not ahead).
    @discardableResult
    public mutating func rewind(to wall: Int64) -> Int64 {
        guard last.wall > wall else { return 0 }
        let by = last.wall - wall
        last = HLC(wall: wall, counter: 0)
        return by
    }

    /// Whether a received stamp lies too far in the future of `physical` to be trusted.
    public func isTooFarAhead(_ stamp: HLC, physical: Int64) -> Bool {
        stamp.wall > physical + futureToleranceMilliseconds
    }

    /// Moves the clock past a stamp received from another replica. Stamps too far in the future are not
    /// absorbed (they would drag this clock ahead); the caller refuses such changes.
    /// - Returns: `false` when the stamp was too far ahead and was not absorbed.
    @discardableResult
    public mutating func observe(_ stamp: HLC, physical: Int64) -> Bool {
        guard !isTooFarAhead(stamp, physical: physical) else { return false }
        let wall = max(last.wall, stamp.wall, physical)
        if wall == last.wall && wall == stamp.wall {
            last = HLC(wall: wall, counter: max(last.counter, stamp.counter) &+ 1)
        } else if wall == last.wall {
            last = HLC(wall: wall, counter: last.counter &+ 1)
        } else if wall == stamp.wall {
            last = HLC(wall: wall, counter: stamp.counter &+ 1)
        } else {
            last = HLC(wall: wall, counter: 0)
        }
        return true
    }
}

/// The decimal numbers of the protocol's texts (an HLC stamp's parts, a change id's seq): ASCII digits
/// only, no sign, no leading zero (`0` itself excepted), so each number has one spelling (SPEC §2.1).
enum PlainDecimal {
    static func parse<T: FixedWidthInteger>(_ text: Substring) -> T? {
        guard let first = text.utf8.first, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), first != 0x30 || text.utf8.count == 1 else { return nil }
        return T(text)
    }
}
