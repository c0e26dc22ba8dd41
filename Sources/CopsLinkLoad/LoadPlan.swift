public import CopsLinkCore

/// How calls arrive in open loop.
public enum Arrivals: String, Sendable, CaseIterable {
    /// Exactly 1/rate apart.
    case constant
    /// A Poisson process: exponentially distributed gaps with mean 1/rate.
    case poisson
}

/// Everything a run needs, decided before it starts.
public struct LoadPlan: Sendable {
    public var mix: CallMix
    public var workload: Workload
    /// Closed loop: the number of workers, each with one call in flight. Open loop: the most calls in flight.
    public var concurrency: Int
    public var durationSeconds: Double
    public var warmupSeconds: Double
    public var timeoutSeconds: Double
    /// Per-call options (timeout, metadata such as the bearer token); built once.
    public var options: CallOptions
    /// Calls per second: open loop. `nil`: closed loop.
    public var rate: Double?
    public var arrivals: Arrivals
    /// Seeds the random choices (method, account, Poisson gaps) so that runs are reproducible.
    public var seed: UInt64
    /// Where acknowledged writes are recorded (`--record`); nil records nothing.
    public var acknowledged: AcknowledgedWrites?

    public init(
        mix: CallMix, workload: Workload, concurrency: Int, durationSeconds: Double, warmupSeconds: Double, timeoutSeconds: Double,
        options: CallOptions, rate: Double? = nil, arrivals: Arrivals = .constant, seed: UInt64 = 0x00C0_951A_4B00_5EED
    ) {
        self.mix = mix
        self.workload = workload
        self.concurrency = concurrency
        self.durationSeconds = durationSeconds
        self.warmupSeconds = warmupSeconds
        self.timeoutSeconds = timeoutSeconds
        self.options = options
        self.rate = rate
        self.arrivals = arrivals
        self.seed = seed
    }

    public var isOpenLoop: Bool { rate != nil }
    public var layout: LatencyLayout { LatencyLayout(runSeconds: warmupSeconds + durationSeconds, timeoutSeconds: timeoutSeconds) }
    /// Buckets of the per-second timeline of the measured window.
    public var seconds: Int { max(1, Int(durationSeconds.rounded(.up))) }

    /// The instants of a run that starts now.
    func clock(startingAt start: UInt64) -> (measureStart: UInt64, end: UInt64) {
        let measureStart = start + UInt64((warmupSeconds * 1e9).rounded())
        return (measureStart, measureStart + UInt64((durationSeconds * 1e9).rounded()))
    }

    /// The seed of worker `index`'s generator.
    /// Hashed, so that the workers' streams are unrelated (SplitMix64 streams whose seeds differ by its increment
    /// would be the same stream shifted).
    func workerSeed(_ index: Int) -> UInt64 {
        var generator = SplitMix64(seed: seed ^ (UInt64(index + 1) &* 0xD1B5_4A32_D192_ED03))
        return generator.next()
    }
}
