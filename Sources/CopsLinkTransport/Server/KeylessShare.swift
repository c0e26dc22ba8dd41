import NIOCore

/// One event loop's share of time for connections on which no caller has authenticated (keyless connections), and
/// the order in which those held back are processed. Pure: the clock comes in as arguments; its owner
/// (`KeylessReadScheduler`) keeps it on its loop.
///
/// The balance is time: it grows by `share` of the wall-clock time that passes, up to `burst`, and processing a
/// keyless connection's bytes spends what it took. While the balance is spent (or others wait), a connection's bytes
/// wait, and waiting connections are processed earliest deadline first: a connection's deadline is when it was queued
/// plus `costWeight` times its cost, the time it has taken recently (`RecentCost`: halved every 5 s) plus what the
/// bytes it waits with should take (their count times the loop's recent cost per byte). So a new connection's
/// handshake and first call go ahead of a flooding connection's next 16 KiB (queued up to 4,096 times that read's
/// cost before it), a long-lived connection that takes little now (a monitoring probe's) is not held back for what it took
/// over its life, and no connection waits for ever: one queued earlier by more than the weighted difference goes
/// first.
struct KeylessShare {
    /// A connection waiting to be processed: ordered by its priority (nanoseconds, lowest first), then by arrival.
    struct Waiter: Comparable {
        var priority: Int64
        var arrival: UInt64
        var id: ObjectIdentifier

        static func < (lhs: Waiter, rhs: Waiter) -> Bool {
            (lhs.priority, lhs.arrival) < (rhs.priority, rhs.arrival)
        }

        static func == (lhs: Waiter, rhs: Waiter) -> Bool { lhs.priority == rhs.priority && lhs.arrival == rhs.arrival }
    }

    /// How many times its cost a connection's deadline lies after it was queued. Large, because a flood's connections
    /// queue all at once and their cost is counted in milliseconds: with 1, a new connection queued 50 ms after 60
    /// flooding ones waited for all of them (5.6 s on a debug build), with 64 still 2.8 s. With 4,096 a connection that
    /// took 1 ms waits at most about 4 s behind a stream of cheaper newcomers.
    static let costWeight: Int64 = 4_096

    /// The fraction of the loop's time keyless connections may take together, in (0, 1].
    let share: Double
    /// The most time saved up, in nanoseconds; the balance starts there.
    let burst: Int64
    /// Nanoseconds that may still be spent; negative after processing that cost more than was left.
    private(set) var balance: Int64
    /// What a received byte has recently cost to process: the moving average of passes, in nanoseconds per byte.
    private(set) var nanosecondsPerByte: Double = 100
    private var refilledAt: NIODeadline
    private var waiting: [Waiter] = []
    private var arrivals: UInt64 = 0

    init(share: Double, burst: TimeAmount, now: NIODeadline) {
        precondition(share > 0 && share <= 1, "the keyless share is a fraction of the loop's time in (0, 1]")
        self.share = share
        self.burst = max(0, burst.nanoseconds)
        balance = self.burst
        refilledAt = now
    }

    /// Entries queued, connections that left since included (its owner knows which are still waiting).
    var waiterCount: Int { waiting.count }

    /// Whether the balance allows processing now (whoever waits).
    mutating func isReady(at now: NIODeadline) -> Bool {
        refill(at: now)
        return isReady
    }

    /// The balance allows processing: it is positive, or full (with no burst, once nothing is owed).
    private var isReady: Bool { balance > 0 || balance >= burst }

    /// Queues the connection `id`, which has taken `spent` ns recently and waits with `bytes` bytes from `now`.
    mutating func wait(id: ObjectIdentifier, spent: Int64, bytes: Int, at now: NIODeadline) {
        let limit = Int64.max / 8
        let expected = Int64(min(Double(limit / Self.costWeight), Double(bytes) * nanosecondsPerByte))
        let cost = min(limit / Self.costWeight, max(0, spent) + expected) * Self.costWeight
        let queuedAt = min(limit, Int64(truncatingIfNeeded: now.uptimeNanoseconds))
        push(Waiter(priority: queuedAt + cost, arrival: arrivals, id: id))
        arrivals &+= 1
    }

    /// Forgets every queued entry (the owner knows none of them is waiting any more).
    mutating func clearWaiting() {
        waiting.removeAll(keepingCapacity: false)
    }

    /// The waiting connection to process next, earliest deadline first, if the balance allows it now.
    mutating func next(at now: NIODeadline) -> ObjectIdentifier? {
        refill(at: now)
        guard isReady else { return nil }
        return popMin()?.id
    }

    /// Processing `bytes` bytes (0 for work that read nothing, such as a call's task) took `cost` ns.
    mutating func charge(cost: Int64, bytes: Int) {
        let cost = max(0, cost)
        balance = balance.subtractingReportingOverflow(cost).partialValue
        guard bytes > 0 else { return }
        // An average over about the last eight passes.
        nanosecondsPerByte += (Double(cost) / Double(bytes) - nanosecondsPerByte) / 8
    }

    /// How long from now until the balance allows processing again; zero when it does.
    var timeUntilReady: TimeAmount {
        guard !isReady else { return .zero }
        let needed = Double(min(burst, 1)) - Double(balance)
        return .nanoseconds(Int64(min(Double(Int64.max / 2), needed / share)))
    }

    private mutating func refill(at now: NIODeadline) {
        let elapsed = (now - refilledAt).nanoseconds
        guard elapsed > 0 else { return }
        refilledAt = now
        // The keyless share of the time that passed, up to what fills the balance (after hours idle, `elapsed`
        // times `share` can pass Int64).
        let earned = min(Double(elapsed) * share, Double(burst) - Double(balance))
        if earned > 0 { balance += Int64(earned) }
    }

    // MARK: The waiting connections: a binary min-heap.

    private mutating func push(_ waiter: Waiter) {
        waiting.append(waiter)
        var child = waiting.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard waiting[child] < waiting[parent] else { break }
            waiting.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popMin() -> Waiter? {
        guard !waiting.isEmpty else { return nil }
        waiting.swapAt(0, waiting.count - 1)
        let minimum = waiting.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < waiting.count, waiting[left] < waiting[smallest] { smallest = left }
            if right < waiting.count, waiting[right] < waiting[smallest] { smallest = right }
            guard smallest != parent else { break }
            waiting.swapAt(parent, smallest)
            parent = smallest
        }
        return minimum
    }
}

/// The time a connection has taken recently: each cost counts in full when it is added and half as much every
/// `halfLife` after (between whole half-lives, linearly), so what a connection took long ago (a monitoring probe over days) stops counting against it.
struct RecentCost {
    static let halfLife = TimeAmount.seconds(5)

    private var value: Double = 0
    private var at: NIODeadline?

    /// The recent cost at `now`, in nanoseconds.
    func value(at now: NIODeadline) -> Int64 {
        Int64(min(Double(Int64.max / 4), decayed(to: now)))
    }

    /// Adds `cost` nanoseconds taken at `now`.
    mutating func add(_ cost: Int64, at now: NIODeadline) {
        value = decayed(to: now) + Double(max(0, cost))
        at = now
    }

    private func decayed(to now: NIODeadline) -> Double {
        guard let at, now > at else { return value }
        let halves = Double((now - at).nanoseconds) / Double(Self.halfLife.nanoseconds)
        guard halves < 62 else { return 0 }
        // Whole half-lives exactly, the part of one in between linearly (within 6 % of the curve).
        let whole = Int(halves)
        return value / Double(UInt64(1) << UInt64(whole)) * (1 - (halves - Double(whole)) / 2)
    }
}
