import CopsLinkCore
import Testing

@Suite("Duration in status messages")
struct DurationTextTests {
    @Test(
        "decimal seconds with an s suffix, no trailing zeros",
        arguments: [
            (Duration.seconds(10), "10s"), (.seconds(300), "300s"), (.milliseconds(250), "0.25s"), (.milliseconds(1), "0.001s"),
            (.zero, "0s"), (.nanoseconds(1), "0.000000001s"), (.microseconds(1_500_000), "1.5s"), (.milliseconds(-500), "-0.5s"),
            (.seconds(-2), "-2s")
        ])
    func renders(duration: Duration, text: String) {
        #expect(duration.secondsText == text)
    }

    @Test("sub-nanosecond remainders round to the nanosecond, carrying into the seconds")
    func rounds() {
        #expect(
            (Duration.seconds(1) + .nanoseconds(999_999_999) + Duration(secondsComponent: 0, attosecondsComponent: 600_000_000)).secondsText
                == "2s")
        #expect(Duration(secondsComponent: 0, attosecondsComponent: 400_000_000).secondsText == "0s")
    }

    @Test("the text parses back to the same duration, in the protobuf JSON Duration form")
    func roundTrips() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let nanos = Int64.random(in: 0...1_000_000_000_000, using: &generator)
            let text = Duration.nanoseconds(nanos).secondsText
            #expect(text.hasSuffix("s"))
            let number = text.dropLast()
            let parts = number.split(separator: ".", omittingEmptySubsequences: false)
            let seconds = Int64(parts[0])!
            let digits = parts.count > 1 ? String(parts[1]) : ""
            let fraction = digits + String(repeating: "0", count: 9 - digits.count)
            #expect(seconds * 1_000_000_000 + Int64(fraction)! == nanos, "\(text)")
        }
    }
}
