import CopsLinkCore

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
    /// How far ahead of the server's clock a reported signal's `received_at_ms` may lie (clock skew between the
    /// receiver that dated it and the server); ReportSignals rejects a signal dated later. Retention counts from the
    /// received time, so a signal dated in the future (up to year 9999) would otherwise be kept until then. Default
    /// 5 min, the skew `effectiveTimeSkewMs` allows on the other side; more generous than `testDataFutureSkewMs`,
    /// since a rejected signal is lost where a refused query can be sent again.
    public var signalFutureSkewMs: Int64 = 5 * 60 * 1000
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
    /// Bytes of accounts, answers to request ids, signals and test data one dealer may store (`StorageQuota`): calls
    /// that may store more are refused RESOURCE_EXHAUSTED while the dealer is at or over it. Default 10 GiB
    /// (`copslink-server --max-stored-bytes-per-dealer`).
    public var maximumStoredBytesPerDealer = StorageQuota.defaultBytesPerDealer
    /// How long a request id's answer is replayed: a retry with the same id after this runs as a new request, and
    /// `RetentionPruner` deletes the record (each holds the whole answer, up to megabytes). Default 24 h; 0 keeps
    /// records, and replays them, forever (`copslink-server --idempotency-retention`).
    public var idempotencyRetentionMs: Int64 = 24 * 3600 * 1000
    /// How long signals (test results and signal history) are kept, by received time; `RetentionPruner` deletes older
    /// ones, and RequestTestData no longer finds them. Default 400 days, so that a year of test data stays queryable;
    /// 0 keeps them forever (`copslink-server --signal-retention`).
    public var signalRetentionMs: Int64 = 400 * 24 * 3600 * 1000

    /// The dealer of calls without an authenticated caller: in-process use, or a server run with authentication
    /// disabled (development only). Default `demo`.
    public var dealerWithoutCaller = DealerID.demo

    public init() {}

    var effectiveMaximumTestMinutes: Int64 { min(maximumTestMinutes, Self.hardMaximumTestMinutes) }

    /// The time before which rows of `kind` are past their retention at `nowMs` (a row of exactly the window's age is
    /// kept), or nil when they are kept forever. The one rule that the pruner and the replay of request ids share.
    func retentionCutoffMs(_ kind: RetainedRows, atMs nowMs: Int64) -> Int64? {
        let retention =
            switch kind {
            case .idempotencyRecords: idempotencyRetentionMs
            case .signals: signalRetentionMs
            }
        return retention > 0 ? nowMs.addingSaturating(-retention) : nil
    }
}
