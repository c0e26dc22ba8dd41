/// Dealer (tenant) ids: every customer belongs to one dealer, and API keys act for one dealer.
public enum DealerID {
    /// The dealer of the demo customers, of data stored before dealers existed, and (by default) of calls made
    /// with authentication disabled.
    public static let demo = "demo"

    /// 1 to 64 characters from `a-z 0-9 . _ -`, starting with a letter or digit: never `/`, which separates the
    /// dealer from the customer id in storage keys.
    public static func isValid(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard (1...64).contains(utf8.count), let first = utf8.first, isLowerAlphanumeric(first) else { return false }
        return utf8.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
