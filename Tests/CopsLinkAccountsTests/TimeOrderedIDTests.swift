import Foundation
import Testing

@testable import CopsLinkAccounts

/// Server-made ids are version-7 UUIDs: time first, so that new rows go to the end of their unique index.
@Suite("Time-ordered ids")
struct TimeOrderedIDTests {
    @Test func theLayoutIsAVersion7UUIDWithTheTimeFirst() throws {
        let id = TimeOrderedID.make(atMs: 0x0192_3456_789A, random: 0xFFFF_FFFF_FFFF_F123, 0xFFFF_FFFF_FFFF_FFFF)
        #expect(id == "01923456-789a-7123-bfff-ffffffffffff")
        let zero = TimeOrderedID.make(atMs: 0, random: 0, 0)
        #expect(zero == "00000000-0000-7000-8000-000000000000")
        // Foundation reads it as a UUID, version 7, RFC variant.
        let parsed = try #require(UUID(uuidString: id))
        let bytes = withUnsafeBytes(of: parsed.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
    }

    @Test func laterIdsSortAfterEarlierOnesAndEachIsNew() {
        let start: Int64 = 1_795_867_200_000
        let ids = (0..<1000).map { TimeOrderedID.make(atMs: start + Int64($0)) }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        let sameMillisecond = (0..<1000).map { _ in TimeOrderedID.make(atMs: start) }
        #expect(Set(sameMillisecond).count == sameMillisecond.count, "74 random bits")
        #expect(sameMillisecond.allSatisfy { $0.count == 36 && $0.hasPrefix("01a22206-ca00-7") })
    }

    @Test func timesOutsideTheLayoutAreClamped() {
        #expect(TimeOrderedID.make(atMs: -5, random: 0, 0) == TimeOrderedID.make(atMs: 0, random: 0, 0))
        #expect(TimeOrderedID.make(atMs: .max, random: 0, 0).hasPrefix("ffffffff-ffff-7"))
    }
}
