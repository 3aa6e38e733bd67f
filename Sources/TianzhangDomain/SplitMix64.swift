/// A small, fast, seeded random number generator (SplitMix64, Steele et al. 2014). Every random choice
/// in generators and simulations flows from one of these, so a seed replays exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A child stream for a subsystem: independent of how many draws the parent makes later.
    public mutating func fork() -> SplitMix64 { SplitMix64(seed: next()) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { p > 0 && Double(next() >> 11) / Double(1 << 53) < p }
}
