/// Limits of the account rules, with documented defaults.
public struct AccountServiceConfiguration: Sendable, Hashable {
    /// Longest test a dealer may place. Default 24 h; never more than `hardMaximumTestMinutes`.
    public var maximumTestMinutes: Int64 = 24 * 60
    /// 30 days: no configuration allows longer tests.
    public static let hardMaximumTestMinutes: Int64 = 30 * 24 * 60
    /// How far in the past an effective time may lie (clock skew between CRM and server). Default 5 min.
    public var effectiveTimeSkewMs: Int64 = 5 * 60 * 1000
    /// Longest date range of one test-data request. Default 31 days.
    public var maximumTestDataSpanMs: Int64 = 31 * 24 * 3600 * 1000
    /// How far in the future the end of a test-data range may lie (clock skew). Default 1 min.
    public var testDataFutureSkewMs: Int64 = 60 * 1000
    public var defaultPageSize = 500
    public var maximumPageSize = 5000
    /// Signals written per transaction while ingesting a stream. Default 256.
    public var signalBatchSize = 256
    /// Rejections listed in a ReportSignals answer; more are counted only (`rejected_count`). Default 100.
    public var maximumListedRejections = 100
    /// Accounts (customers, linked or unlinked) one dealer may hold: LinkAccount of a new customer past it answers
    /// RESOURCE_EXHAUSTED. Keeps one dealer from filling the store or the generated account-number space that all
    /// dealers share. Default 1,000,000 (`copslink-server --max-accounts-per-dealer`).
    public var maximumAccountsPerDealer = 1_000_000

    /// The dealer of calls without an authenticated caller: in-process use, or a server run with authentication
    /// disabled (development only). Default `demo`.
    public var dealerWithoutCaller = DealerID.demo

    public init() {}

    var effectiveMaximumTestMinutes: Int64 { min(maximumTestMinutes, Self.hardMaximumTestMinutes) }
}
