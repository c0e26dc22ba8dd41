/// Ids for rows the server creates (test sessions, account authority entries): UUIDs of version 7 (RFC 9562), the
/// creation time in milliseconds in their first 48 bits and 74 random bits after it, written in lower-case hex.
///
/// Ids of rows created close together sort close together, so the unique index over them takes each new id at its
/// end instead of on a random page: a random version-4 id dirtied one more index page per PlaceOnTest, one more page
/// for every commit to write and sync. Still unguessable (74 random bits), and still a UUID to every client.
public enum TimeOrderedID {
    /// A new id for a row created at `nowMs` (milliseconds since 1970; clamped to the 48 bits the layout holds).
    public static func make(atMs nowMs: Int64) -> String {
        make(atMs: nowMs, random: UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
    }

    /// The id for `nowMs` with the given random bits (which bits are used: see the layout); for tests.
    static func make(atMs nowMs: Int64, random high: UInt64, _ low: UInt64) -> String {
        let time = min(UInt64(clamping: max(nowMs, 0)), 0xFFFF_FFFF_FFFF)
        // time (48) | version 7 (4) | random (12), then variant 0b10 (2) | random (62).
        let first = time << 16 | 0x7000 | (high & 0x0FFF)
        let second = 0x8000_0000_0000_0000 | (low & 0x3FFF_FFFF_FFFF_FFFF)
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { text in
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    text[index] = digits[Int(value >> UInt64(shift) & 0xF)]
                    index += 1
                }
            }
            func dash() {
                text[index] = UInt8(ascii: "-")
                index += 1
            }
            put(first >> 32, nibbles: 8)
            dash()
            put(first >> 16 & 0xFFFF, nibbles: 4)
            dash()
            put(first & 0xFFFF, nibbles: 4)
            dash()
            put(second >> 48, nibbles: 4)
            dash()
            put(second & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return index
        }
    }
}
