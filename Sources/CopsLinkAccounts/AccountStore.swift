import CopsLinkCore
public import CopsLinkMessages

/// The link between a customer and a central-station account.
public struct AccountLink: Hashable, Sendable {
    public var customerID: String
    public var accountNumber: String
    public var receiverNumber: String
    public var line: String
    public var state: LinkState
    public var linkedAtMs: Int64
    public var unlinkedAtMs: Int64

    public init(
        customerID: String, accountNumber: String, receiverNumber: String, line: String, state: LinkState, linkedAtMs: Int64,
        unlinkedAtMs: Int64 = 0
    ) {
        self.customerID = customerID
        self.accountNumber = accountNumber
        self.receiverNumber = receiverNumber
        self.line = line
        self.state = state
        self.linkedAtMs = linkedAtMs
        self.unlinkedAtMs = unlinkedAtMs
    }
}

/// The first answer to a request id, kept so that retries get it again.
public struct IdempotencyRecord: Hashable, Sendable {
    public var requestID: String
    public var method: String
    /// Hash of the request with its request id cleared: the same id with other parameters is rejected.
    public var fingerprint: UInt64
    public var response: [UInt8]
    public var createdAtMs: Int64

    public init(requestID: String, method: String, fingerprint: UInt64, response: [UInt8], createdAtMs: Int64) {
        self.requestID = requestID
        self.method = method
        self.fingerprint = fingerprint
        self.response = response
        self.createdAtMs = createdAtMs
    }
}

/// A received signal as stored, under its central-station account: a test result when `sessionID` is set, plain
/// signal history otherwise.
public struct SignalRecord: Hashable, Sendable {
    public var accountNumber: String
    public var result: TestResult
    public var isTestResult: Bool

    public init(accountNumber: String, result: TestResult, isTestResult: Bool) {
        self.accountNumber = accountNumber
        self.result = result
        self.isTestResult = isTestResult
    }
}

/// A position in a time-ordered listing, for keyset paging: rows after (`atMs`, `rowID`).
public struct PageCursor: Hashable, Sendable {
    public var atMs: Int64
    public var rowID: Int64
    public init(atMs: Int64, rowID: Int64) {
        self.atMs = atMs
        self.rowID = rowID
    }
}

/// The bounds of one keyset page read over `[fromMs, toMs]`: rows with `at` in `[lowerMs, toMs]` and
/// (`at`, `row id`) after (`afterAtMs`, `afterRowID`).
///
/// `lowerMs` is the later of the range's start and the cursor's time. The cursor's own condition is an OR that no
/// index range can use, so without this the engine walks every row from the range's start on each page: a year
/// streamed in 500-row pages read the index 35 times over.
public struct PageKeyset: Sendable {
    public var lowerMs: Int64
    public var toMs: Int64
    public var afterAtMs: Int64
    public var afterRowID: Int64

    public init(fromMs: Int64, toMs: Int64, after cursor: PageCursor?) {
        afterAtMs = cursor?.atMs ?? .min
        afterRowID = cursor?.rowID ?? .min
        lowerMs = max(fromMs, afterAtMs)
        self.toMs = toMs
    }
}

/// What the account service reads inside one consistent snapshot.
///
/// Customer data from the CRM (customer, equipment, responding parties) is kept per customer id; central-station
/// data (receiver and line, zones, authorities, test sessions and history, signals) per account number, so that it
/// stays with the account when the customer is unlinked and follows the number to whichever customer links it.
/// Implementations keep SQL and engine specifics to themselves; the service depends only on this.
public protocol AccountReadTransaction {
    /// The customer as stored, passcode included.
    func customer(id: String) throws -> Customer?
    func link(customerID: String) throws -> AccountLink?
    /// The link of the customer this account number is linked to, or else of the customer it was last linked to,
    /// among the transaction's dealer's customers.
    func link(accountNumber: String) throws -> AccountLink?
    /// Receiver and line of one of the dealer's central-station accounts, if the number was ever linked.
    func stationLine(accountNumber: String) throws -> (receiverNumber: String, line: String)?
    /// Whether any customer of any dealer holds this account number: account numbers are unique at the central
    /// station. Says nothing about whose it is.
    func isAccountNumberTaken(_ accountNumber: String) throws -> Bool
    func respondingParties(customerID: String) throws -> [RespondingParty]
    func accountAuthorities(accountNumber: String) throws -> [AccountAuthority]
    /// Zones entered at the central station, by zone number.
    func zones(accountNumber: String) throws -> [Zone]
    /// The description of one zone, as a signal names it: the zone entered at the central station for the number,
    /// else the customer's equipment on that zone; nil when neither has it. One lookup by key, whatever the account's
    /// size (a signal that read every zone and the whole customer held the writer 32 ms on a maximum-size account).
    func zoneDescription(accountNumber: String, customerID: String, zoneNumber: String) throws -> String?
    /// The session that has not ended (scheduled, active, or past its expiry but not yet marked), if any.
    func openSession(accountNumber: String) throws -> TestSession?
    /// Sessions that had started by `atMs` and had not ended or expired by then, for signal matching.
    func sessionActive(accountNumber: String, atMs: Int64) throws -> TestSession?
    func authority(id: String) throws -> Authority?
    func authorities(type: AuthorityType, zip: String) throws -> [Authority]
    func testCategories() throws -> [TestCategory]
    func testCategory(id: String) throws -> TestCategory?
    func idempotencyRecord(requestID: String) throws -> IdempotencyRecord?
    /// Test history of an account in `[fromMs, toMs]`, after `cursor`, oldest first.
    func testHistory(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestHistoryEntry)]
    /// Signal history (signals that were not test results) of an account in `[fromMs, toMs]`, after `cursor`, oldest
    /// first.
    func signalHistory(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestResult)]
    /// Test results of an account in `[fromMs, toMs]`, after `cursor`, oldest first.
    func testResults(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestResult)]
    /// One page of RequestTestData: the `kind` rows of an account in `[fromMs, toMs]` after `cursor`, oldest first, at
    /// most `limit`, encoded. Defaults to `testDataPageByRows`; a store that keeps rows encoded overrides it to put
    /// their bytes together, and must return exactly the same bytes.
    func testDataPage(
        _ kind: TestDataKind, accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws -> EncodedTestDataPage
    /// Open sessions whose expiry is at or before `atMs`, with their account numbers.
    func sessionsDue(atMs: Int64) throws -> [(accountNumber: String, session: TestSession)]
    /// The earliest expiry among open sessions.
    func nextExpiry() throws -> Int64?
    /// Customers (accounts, linked or unlinked) of the transaction's dealer, or of all. Cheap for one dealer: the
    /// account quota asks on every new link.
    func customerCount() throws -> Int
    /// Bytes the transaction's dealer (or every dealer) stores in the rows `StorageQuota` counts. Cheap: the store
    /// keeps the count as it writes those rows.
    func storedBytes() throws -> Int64
    /// The linked (or once linked) customer with everything its account page shows, or nil if there is no such
    /// account: what GetAccount reads. Defaults to `storedAccountByParts`; a store overrides it to read the same in
    /// fewer statements.
    func storedAccount(customerID: String) throws -> StoredAccount?
    /// The customer's account page (GetAccount's read model), or nil if the customer has no link. The store keeps it
    /// current in every write transaction; `AccountPage` says what it depends on.
    func accountPage(customerID: String) throws -> AccountPage?
}

/// What the account service changes inside one serialized write transaction.
public protocol AccountWriteTransaction: AccountReadTransaction {
    func saveCustomer(_ customer: Customer) throws
    func replaceRespondingParties(customerID: String, _ parties: [RespondingParty]) throws
    /// Saves the customer's link, and the receiver and line of its account number.
    func saveLink(_ link: AccountLink) throws
    func insertAccountAuthority(accountNumber: String, _ authority: AccountAuthority) throws
    func deleteAccountAuthority(accountNumber: String, id: String) throws
    func replaceZones(accountNumber: String, _ zones: [Zone]) throws
    func insertSession(accountNumber: String, _ session: TestSession) throws
    func endSession(id: String, atMs: Int64, reason: TestEndReason) throws
    func appendHistory(accountNumber: String, _ entry: TestHistoryEntry) throws
    func insertSignal(_ signal: SignalRecord) throws
    /// Saves the record, replacing one of the same request id: the service replays a record inside its retention
    /// window and saves over one past it (`AccountServiceConfiguration.idempotencyRetentionMs`), which the pruner may
    /// not have deleted yet.
    func saveIdempotencyRecord(_ record: IdempotencyRecord) throws
    /// Inserts or replaces directory entries (CSV import).
    func saveAuthorities(_ authorities: [Authority]) throws
    func saveTestCategories(_ categories: [TestCategory]) throws
}

/// Which customers a transaction sees.
public enum StoreScope: Sendable, Hashable {
    /// One dealer's: customer ids and request ids are that dealer's own; another dealer's customer does not exist.
    case dealer(String)
    /// Every dealer's, by storage key: for the server's own work (test expiry), never for a caller.
    case allDealers
}

/// Durable storage of accounts. Reads run concurrently; writes are serialized, each in one transaction that is
/// durable once it returns. Every transaction is scoped (`StoreScope`): the store enforces the dealer boundary in
/// its queries, whatever the service asks.
public protocol AccountStore: Sendable {
    func read<Result: Sendable>(
        _ scope: StoreScope, _ body: @escaping @Sendable (any AccountReadTransaction) throws -> Result
    ) async throws -> Result
    /// Runs `body` in a write transaction and returns once it is durable. A write whose caller's task is cancelled
    /// while it waits to begin (a call cancelled, or cut off by its connection's close: SQLite while it is queued for
    /// the next group commit, PostgreSQL before and after it waits for a connection) is not run: it throws
    /// `CancellationError`, and nothing of it is written. Once begun, it runs to its commit.
    func write<Result: Sendable>(
        _ scope: StoreScope, _ body: @escaping @Sendable (any AccountWriteTransaction) throws -> Result
    ) async throws -> Result
    /// The customer's account page: GetAccount's one read, which needs no transaction of its own (one row). The
    /// default reads it in a read transaction; a store may serve it from a cheaper path.
    func accountPage(_ scope: StoreScope, customerID: String) async throws -> AccountPage?
    /// `storedBytes()` of the scope's dealer, outside any write: the quota check (`StorageQuota`) reads it before a
    /// call's transaction, since reading it inside would make concurrent writes of one dealer conflict on PostgreSQL.
    /// The default reads it in a read transaction.
    func storedBytes(_ scope: StoreScope) async throws -> Int64
    /// Deletes at most `limit` rows of `kind`, of every dealer, whose time (`RetainedRows`) is before `cutoffMs`, and
    /// returns how many it deleted (fewer than `limit`: none older are left, or another instance is deleting them).
    /// One short transaction of its own rather than a body in `write`, so that a batch never holds the writer for
    /// long and, on a database that several instances share, instances pruning at once skip each other's rows
    /// instead of colliding: deleting what is older than a cutoff is the same whoever does it.
    func prune(_ kind: RetainedRows, before cutoffMs: Int64, limit: Int) async throws -> Int
}

/// Rows that each call adds and nothing else removes, kept for a retention window (`AccountServiceConfiguration`)
/// and then deleted by `RetentionPruner`.
public enum RetainedRows: String, Sendable, CaseIterable {
    /// Idempotency records, by the time the answer they hold was given (`IdempotencyRecord.createdAtMs`).
    case idempotencyRecords = "idempotency_records"
    /// Signals, test results and signal history alike, by their received time (`TestResult.receivedAtMs`).
    case signals
}

extension AccountStore {
    public func storedBytes(_ scope: StoreScope) async throws -> Int64 {
        try await read(scope) { try $0.storedBytes() }
    }

    public func accountPage(_ scope: StoreScope, customerID: String) async throws -> AccountPage? {
        try await read(scope) { try $0.accountPage(customerID: customerID) }
    }
}
