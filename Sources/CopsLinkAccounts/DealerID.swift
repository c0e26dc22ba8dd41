import CopsLinkCore

/// Dealer (tenant) ids: every customer belongs to one dealer, and API keys act for one dealer.
public enum DealerID {
    /// The dealer of the demo customers, of data stored before dealers existed, and (by default) of calls made
    /// with authentication disabled.
    public static let demo = "demo"

    /// 1 to 64 characters from `a-z 0-9 . _ -`, starting with a letter or digit (`Caller.isValidTenant`): never
    /// `/`, which separates the dealer from the customer id in storage keys.
    public static func isValid(_ id: String) -> Bool { Caller.isValidTenant(id) }
}
