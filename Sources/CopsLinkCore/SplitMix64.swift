/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast, seedable generator, so that demo data, load runs and
/// tests are the same on every run and every machine. The one copy every module uses; not for secrets.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.finalize(state)
    }

    /// A fixed pseudo-random mapping of `value`: the first output of a generator seeded with `value`. For a stable
    /// hash of an index (which key a benchmark's request n uses, say) without keeping a generator.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        finalize(value &+ 0x9E37_79B9_7F4A_7C15)
    }

    @inlinable
    static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
