import CopsLinkCore
import Testing

@Suite("Saturating arithmetic")
struct SaturatingArithmeticTests {
    @Test func stopsAtTheBoundsInsteadOfTrapping() {
        #expect(UInt32.max.addingSaturating(1) == .max)
        #expect(UInt32(5).addingSaturating(7) == 12)
        #expect(Int64.max.addingSaturating(.max) == .max)
        #expect(Int64.min.addingSaturating(-1) == .min)
        #expect(Int64(-3).addingSaturating(1) == -2)
        var count = UInt32.max - 1
        count.addSaturating(1)
        count.addSaturating(1)
        #expect(count == .max)
    }
}
