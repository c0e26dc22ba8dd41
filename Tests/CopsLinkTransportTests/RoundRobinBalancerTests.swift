import Testing

@testable import CopsLinkTransport

/// The rules of `RoundRobinClientTransport`'s choice of instance, on a manual clock.
@Suite("Round-robin balancer")
struct RoundRobinBalancerTests {
    static let start = ContinuousClock.now

    static func balancer(_ count: Int) -> RoundRobinBalancer {
        var backoff = ClientConfiguration.Backoff()
        backoff.initial = .seconds(1)
        backoff.multiplier = 2
        backoff.maximum = .seconds(3)
        return RoundRobinBalancer(count: count, backoff: backoff)
    }

    @Test func instancesTakeTurns() {
        var balancer = Self.balancer(3)
        let picks = (0..<7).map { _ in balancer.pick(excluding: [], now: Self.start) }
        #expect(picks == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test func aCallTriesEachInstanceOnceAndThenTheNextInTurn() {
        var balancer = Self.balancer(3)
        #expect(balancer.pick(excluding: [], now: Self.start) == 0)
        #expect(balancer.pick(excluding: [0], now: Self.start) == 1)
        #expect(balancer.pick(excluding: [0, 1], now: Self.start) == 2)
        #expect(balancer.pick(excluding: [0, 1, 2], now: Self.start) == 0)
    }

    @Test func aFailedInstanceIsOutForItsJitteredBackoffWhichGrowsToItsMaximum() {
        var balancer = Self.balancer(2)
        balancer.failed(0, now: Self.start, jitter: 1)
        #expect(balancer.isOut(0, at: Self.start + .milliseconds(999)))
        #expect((0..<4).map { _ in balancer.pick(excluding: [], now: Self.start + .milliseconds(500)) } == [1, 1, 1, 1])
        #expect(!balancer.isOut(0, at: Self.start + .seconds(1)))

        balancer.failed(0, now: Self.start, jitter: 0.8)  // second failure: 2 s × 0.8
        #expect(balancer.isOut(0, at: Self.start + .milliseconds(1_599)))
        #expect(!balancer.isOut(0, at: Self.start + .milliseconds(1_600)))
        balancer.failed(0, now: Self.start, jitter: 1.2)  // third: 4 s, capped at 3 s, × 1.2
        #expect(balancer.isOut(0, at: Self.start + .milliseconds(3_599)))
        #expect(!balancer.isOut(0, at: Self.start + .milliseconds(3_600)))
        balancer.failed(0, now: Self.start, jitter: 5)  // jitter outside 0.8...1.2 is clamped
        #expect(!balancer.isOut(0, at: Self.start + .milliseconds(3_600)))
    }

    @Test func aSuccessStartsTheBackoffOver() {
        var balancer = Self.balancer(2)
        balancer.failed(0, now: Self.start, jitter: 1)
        balancer.failed(0, now: Self.start, jitter: 1)
        balancer.succeeded(0)
        #expect(!balancer.isOut(0, at: Self.start))
        balancer.failed(0, now: Self.start, jitter: 1)
        #expect(!balancer.isOut(0, at: Self.start + .seconds(1)), "back to the first backoff")
    }

    @Test func whenEveryInstanceIsOutTheOneBackFirstIsTried() {
        var balancer = Self.balancer(3)
        balancer.failed(0, now: Self.start, jitter: 1)  // out until +1 s
        balancer.failed(1, now: Self.start, jitter: 0.8)  // out until +0.8 s
        balancer.failed(2, now: Self.start, jitter: 1.2)  // out until +1.2 s
        #expect(balancer.pick(excluding: [], now: Self.start) == 1)
        #expect(balancer.pick(excluding: [1], now: Self.start) == 0)
        #expect(balancer.pick(excluding: [], now: Self.start + .milliseconds(1_100)) == 1, "0 and 1 are back, 1 is next in turn")
        #expect(balancer.pick(excluding: [], now: Self.start + .milliseconds(1_100)) == 0, "2 is still out")
    }
}
