import CopsLinkCore

/// What one dealer's calls may make the store keep, in bytes: without it a dealer's key could fill the disk. An account
/// at its field limits takes about 1.6 MB, an answer kept for a request id may hold as much for a 46-byte request, and
/// signals are kept for 400 days.
///
/// The store keeps each dealer's count as it writes and deletes the rows (triggers of `dealer_stored_bytes`), so that
/// a check reads one number. A row counts about what it takes on disk:
/// - an account: twice its account page (the encoded `Account`; its own rows hold the same again) plus 100;
/// - an answer kept for a request id: its bytes plus 100;
/// - a signal, test result or test-history row: twice its encoded message (its columns hold the same again) plus 100;
/// - a test session: 200 plus its comment and zone list.
///
/// While the dealer's count is at or over the quota, calls that may store more are refused RESOURCE_EXHAUSTED:
/// LinkAccount, SyncCustomer, AddAccountAuthorities, SetCentralStationZones, PlaceOnTest, UnlinkAccount with a request
/// id, and ReportSignals' batches (their signals are rejected, the stream goes on). Reads, UnlinkAccount without a
/// request id, and PlaceOffTest and RemoveAccountAuthority with or without one still run: those two keep an answer
/// only when they end a test or remove an authority that a checked call added, so a dealer over its quota can still
/// take accounts off test. A retry of a call already answered still gets its answer. The count falls as retention
/// deletes answers and signals; accounts, test sessions and history are kept. The check comes before the call's
/// transaction, so calls running at once may together pass the quota by what they store (each at most the pages of
/// one account number, a test's rows and one answer, or one batch of signals).
public enum StorageQuota {
    /// Which calls of a mutating method are checked.
    enum Check {
        /// Every call: the method adds counted rows (an account, a test) whatever its request.
        case always
        /// A call with a request id: it keeps its answer.
        case whenKeepingAnAnswer
        /// None: the method only ends or removes what a checked call added, and keeps an answer only when it does.
        case never
    }

    /// Default quota per dealer: 10 GiB (`copslink-server --max-stored-bytes-per-dealer`).
    public static let defaultBytesPerDealer: Int64 = 10 << 30

    static func exhausted(dealer: String, storedBytes: Int64, quota: Int64) -> AccountError {
        AccountError(
            .resourceExhausted,
            "dealer \(dealer) stores \(storedBytes) bytes of accounts, answers to request ids, signals and test data, at or over its quota of "
                + "\(quota) bytes; calls that store more are refused until retention deletes old answers and signals or the "
                + "server's quota is raised (--max-stored-bytes-per-dealer)")
    }
}

extension AccountServiceImplementation {
    /// The refusal (`StorageQuota`) when the calling dealer's stored bytes are at or over the quota, else nil.
    func storageQuotaRefusal(_ context: ServerContext) async throws -> AccountError? {
        let quota = configuration.maximumStoredBytesPerDealer
        let stored = try await store.storedBytes(scope(context))
        return stored >= quota ? StorageQuota.exhausted(dealer: dealer(context), storedBytes: stored, quota: quota) : nil
    }
}
