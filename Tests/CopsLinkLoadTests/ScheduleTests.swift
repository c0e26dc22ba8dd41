import CopsLinkLoad
import CopsLinkTestSupport
import Testing

@Suite("open-loop schedule")
struct ScheduleTests {
    @Test("constant arrivals are exactly 1/R apart", arguments: [200.0, 1000.0, 3.0, 7919.0])
    func constant(rate: Double) {
        var schedule = ArrivalSchedule(rate: rate, arrivals: .constant, seed: 1)
        let times = (0..<10_000).map { _ in schedule.next() }
        #expect(times[0] == 0)
        let interval = 1e9 / rate
        for index in times.indices {
            // Each intended start is the exact multiple, rounded to the nanosecond: no drift accumulates.
            #expect(times[index] == UInt64((Double(index) * interval).rounded()))
        }
        for index in 1..<times.count {
            #expect(abs(Double(times[index] - times[index - 1]) - interval) <= 1)
        }
        if rate == 200 { #expect(Set(zip(times.dropFirst(), times).map { $0 - $1 }) == [5_000_000]) }
    }

    @Test("Poisson arrivals have mean gap 1/R and exponential spread (seeded)", arguments: [200.0, 5000.0])
    func poisson(rate: Double) {
        var schedule = ArrivalSchedule(rate: rate, arrivals: .poisson, seed: 12345)
        let samples = 200_000
        var previous = schedule.next()
        var gaps: [Double] = []
        gaps.reserveCapacity(samples)
        for _ in 0..<samples {
            let time = schedule.next()
            #expect(time >= previous)
            gaps.append(Double(time - previous))
            previous = time
        }
        let mean = gaps.reduce(0, +) / Double(samples)
        let expected = 1e9 / rate
        #expect(abs(mean - expected) / expected < 0.01, "mean gap \(mean) ns, expected \(expected)")
        // Exponential: standard deviation equals the mean, and about 1/e of the gaps exceed it.
        let variance = gaps.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples)
        #expect(abs(variance.squareRoot() / mean - 1) < 0.02)
        let above = Double(gaps.filter { $0 > expected }.count) / Double(samples)
        #expect(abs(above - 0.36788) < 0.01)
    }

    @Test("the same seed gives the same Poisson schedule, another seed another")
    func poissonDeterministic() {
        var a = ArrivalSchedule(rate: 100, arrivals: .poisson, seed: 9)
        var b = ArrivalSchedule(rate: 100, arrivals: .poisson, seed: 9)
        var c = ArrivalSchedule(rate: 100, arrivals: .poisson, seed: 10)
        let first = (0..<50).map { _ in a.next() }
        #expect(first == (0..<50).map { _ in b.next() })
        #expect(first != (0..<50).map { _ in c.next() })
    }
}
