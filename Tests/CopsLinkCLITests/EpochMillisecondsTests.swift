import CopsLinkCommandLine
import CopsLinkCore
import Foundation
import Testing

/// `x_at_ms` and `x_at` must name the same instant: the text is derived from the number by one function.
@Suite("Epoch milliseconds ↔ ISO 8601")
struct EpochMillisecondsTests {
    @Test func everyMillisecondRoundTripsExactly() {
        var random = SplitMix64(seed: 11)  // reproducible random instants
        // 1900…2200, and every millisecond value of one second (the old Double path lost about half of them).
        let instants =
            (0..<20_000).map { _ in Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &random) }
            + (0..<1000).map { 1_795_867_200_000 + Int64($0) }
        for ms in instants {
            let text = EpochMilliseconds.iso8601(ms)
            #expect(EpochMilliseconds.parse(text) == ms, "\(ms) → \(text)")
            #expect(text.dropLast().suffix(3) == String(format: "%03lld", ((ms % 1000) + 1000) % 1000), "\(ms) → \(text)")
        }
    }

    @Test func knownInstants() {
        #expect(EpochMilliseconds.iso8601(0) == "1970-01-01T00:00:00.000Z")
        #expect(EpochMilliseconds.iso8601(1_795_867_200_250) == "2026-11-28T12:00:00.250Z")
        #expect(EpochMilliseconds.iso8601(1_795_867_200_999, fractional: false) == "2026-11-28T12:00:00Z")
        #expect(EpochMilliseconds.iso8601(-1) == "1969-12-31T23:59:59.999Z")
        #expect(EpochMilliseconds.iso8601(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(EpochMilliseconds.parse("2026-11-28T13:00:00.250+01:00") == 1_795_867_200_250)
        #expect(EpochMilliseconds.parse("yesterday") == nil)
    }

    @Test func extremeValuesFormatWithoutTrapping() {
        for ms in [Int64.max, Int64.min, Int64.max - 999, Int64.min + 1] {
            #expect(!EpochMilliseconds.iso8601(ms).isEmpty)
        }
    }
}
