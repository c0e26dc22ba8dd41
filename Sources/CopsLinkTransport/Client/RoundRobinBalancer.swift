/// Which instance each call of a `RoundRobinClientTransport` goes to: the rules alone, apart from the connections,
/// so that they are tested on a manual clock.
struct RoundRobinBalancer {
    let count: Int
    let backoff: ClientConfiguration.Backoff
    private var next = 0
    /// Per instance: left out until then, after a failure.
    private var outUntil: [ContinuousClock.Instant?]
    /// Per instance: how long its next failure leaves it out; nil until it fails, and again after a success.
    private var nextDelay: [Duration?]

    init(count: Int, backoff: ClientConfiguration.Backoff) {
        self.count = count
        self.backoff = backoff
        outUntil = Array(repeating: nil, count: count)
        nextDelay = Array(repeating: nil, count: count)
    }

    /// The next instance in turn that is in and not in `tried`; when every untried one is out, the one that comes
    /// back first (a call is never refused for want of an instance: that instance's own connect backoff answers it);
    /// when all were tried, the next in turn.
    mutating func pick(excluding tried: [Int], now: ContinuousClock.Instant) -> Int {
        var soonest: (index: Int, until: ContinuousClock.Instant)?
        for step in 0..<count {
            let index = (next + step) % count
            if tried.contains(index) { continue }
            guard let until = outUntil[index], until > now else { return take(index) }
            if soonest.map({ until < $0.until }) ?? true { soonest = (index, until) }
        }
        return take(soonest?.index ?? next % count)
    }

    private mutating func take(_ index: Int) -> Int {
        next = (index + 1) % count
        return index
    }

    func isOut(_ index: Int, at now: ContinuousClock.Instant) -> Bool {
        outUntil[index].map { $0 > now } ?? false
    }

    /// A call on `index` succeeded: it is in, and its next failure starts the backoff over.
    mutating func succeeded(_ index: Int) {
        guard nextDelay[index] != nil else { return }
        nextDelay[index] = nil
        outUntil[index] = nil
    }

    /// A call on `index` failed UNAVAILABLE: it is out for its backoff times `jitter` (0.8...1.2, so that clients do not
    /// come back together), and its next backoff is longer, up to the maximum.
    mutating func failed(_ index: Int, now: ContinuousClock.Instant, jitter: Double) {
        let delay = nextDelay[index] ?? backoff.initial
        outUntil[index] = now + delay * min(1.2, max(0.8, jitter))
        nextDelay[index] = min(backoff.maximum, delay * backoff.multiplier)
    }
}
