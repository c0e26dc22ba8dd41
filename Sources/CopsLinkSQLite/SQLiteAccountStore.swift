public import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import GRDB
public import Logging

/// `AccountStore` on one SQLite file, through GRDB.
///
/// WAL mode with a pool of readers, so reads run concurrently with each other and with the single writer; foreign
/// keys on; `synchronous = FULL`, so a transaction that has returned survives a crash of the process or the machine.
///
/// Writes share commits (`SQLiteGroupCommit`): writes that arrive while one commits are run together in the next
/// transaction, each body in a savepoint of its own, and committed with one fsync. A write returns only after the
/// transaction holding it has committed, so a returned write is as durable as before; a body that throws is undone
/// alone; if the shared COMMIT fails, every write of that batch fails with its error and none of them is written.
public final class SQLiteAccountStore: AccountStore {
    let pool: DatabasePool
    let pages: SQLiteAccountPageReader
    let commits: SQLiteGroupCommit

    /// How much of the file GetAccount's page reads map into memory (`PRAGMA mmap_size`): reading a mapped page is a
    /// memory access where an unmapped one is a `pread`, which was a third of a GetAccount's server time. The mapping
    /// holds no memory of its own; the pages it touches are the kernel's page cache, counted in the server's RSS as
    /// shared file pages and given back under memory pressure. 1 GiB.
    public static let defaultPageReadMapSize = 1 << 30

    /// How long one shared write transaction keeps taking queued writes (`SQLiteGroupCommit`): 10 ms of the writer's
    /// time, after which the batch commits and the writes left wait for the next one.
    public static let defaultMaximumWriteBatchDuration = Duration.milliseconds(10)

    /// `PRAGMA synchronous`'s value for FULL: every commit is synced to disk before it returns.
    static let synchronousFull = 2

    /// Opens (creating if needed) and migrates the database at `path`, and loads the reference test categories.
    /// The database, its WAL and SHM are readable and writable by their owner only (`DatabaseFileMode`). `logger`
    /// gets a debug line for each commit that several writes shared. `maximumWriteBatchDuration` bounds the writer time
    /// one shared transaction takes bodies for (`SQLiteGroupCommit`).
    public init(
        path: String, maximumReaderCount: Int = 8, pageReadMapSize: Int = SQLiteAccountStore.defaultPageReadMapSize,
        maximumWriteBatchDuration: Duration = SQLiteAccountStore.defaultMaximumWriteBatchDuration,
        logger: Logger = Logger(label: "copslink.store", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.maximumReaderCount = maximumReaderCount
        configuration.busyMode = .timeout(10)
        DatabaseFileMode.prepare(path: path)
        pool = try DatabasePool(path: path, configuration: configuration)
        DatabaseFileMode.restrict(path: path)
        // Set once the pool is open: GRDB's WAL set-up runs after `prepareDatabase` and sets `synchronous = NORMAL` on
        // the writer, under which a commit is not synced and a machine crash may lose acknowledged writes.
        try pool.writeWithoutTransaction { db in
            // Statement journals in memory: a shared transaction runs each write in a savepoint, and a page changed in
            // one savepoint and again in a later one has its earlier content saved to the savepoint's journal first.
            // SQLite keeps that journal in memory up to 64 KiB and then spills it to a temporary file, which a batch
            // of 16 LinkAccounts passed every time: a file created and unlinked per commit, and three quarters of the
            // writer's `pwrite` calls going to it (about 8,800 a second against 2,700 to the WAL). The journal lives
            // as long as its transaction, so it is bounded by the batch (`SQLiteGroupCommit.maximumBatchSize` writes,
            // each within the request limits).
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == Self.synchronousFull else {
                throw DatabaseError(message: "SQLite refused synchronous = FULL on \(path)")
            }
        }
        try SQLiteSchema.migrator.migrate(pool)
        try pool.write { db in
            let transaction = SQLiteTransaction(db: db, scope: .allDealers, pageChanges: AccountPageChanges())
            if try transaction.testCategories().isEmpty { try transaction.saveTestCategories(ReferenceData.testCategories) }
            try transaction.refreshAccountPages()
            try SQLiteTransaction.buildMissingAccountPages(db)
        }
        pages = SQLiteAccountPageReader(path: path, maximumIdle: maximumReaderCount, mapSize: pageReadMapSize)
        commits = SQLiteGroupCommit(pool: pool, logger: logger, maximumBatchDuration: maximumWriteBatchDuration)
    }

    public func read<Result: Sendable>(
        _ scope: StoreScope, _ body: @escaping @Sendable (any AccountReadTransaction) throws -> Result
    ) async throws -> Result {
        try Self.check(scope)
        return try await pool.read { db in try body(SQLiteTransaction(db: db, scope: scope)) }
    }

    public func write<Result: Sendable>(
        _ scope: StoreScope, _ body: @escaping @Sendable (any AccountWriteTransaction) throws -> Result
    ) async throws -> Result {
        try Self.check(scope)
        let owner =
            switch scope {
            case .dealer(let dealer): dealer
            case .allDealers: ""
            }
        return try await commits.write(owner: owner) { db in try Self.runBody(body, in: db, scope: scope) }
    }

    /// How many write transactions and writes have committed (group commit at work: writes > transactions).
    public var writeStatistics: SQLiteWriteStatistics { commits.statistics }

    /// One write's body, then the account pages its changes touch, before its work is released: the unit a shared
    /// transaction runs in each savepoint.
    private static func runBody<Result>(
        _ body: (any AccountWriteTransaction) throws -> Result, in db: Database, scope: StoreScope
    ) throws -> Result {
        let transaction = SQLiteTransaction(db: db, scope: scope, pageChanges: AccountPageChanges())
        let result = try body(transaction)
        try transaction.refreshAccountPages()
        return result
    }

    /// Inline on the caller's thread, one row by primary key (`SQLiteAccountPageReader`).
    public func accountPage(_ scope: StoreScope, customerID: String) async throws -> AccountPage? {
        try Self.check(scope)
        switch scope {
        case .dealer(let dealer): return try pages.page(customerKey: dealer + "/" + customerID)
        case .allDealers: return try pages.page(customerKey: customerID)
        }
    }

    /// Inline on the caller's thread, as `accountPage` (`SQLiteAccountPageReader`): the quota check before a write.
    public func storedBytes(_ scope: StoreScope) async throws -> Int64 {
        try Self.check(scope)
        switch scope {
        case .dealer(let dealer): return try pages.storedBytes(dealer: dealer)
        case .allDealers: return try await read(scope) { try $0.storedBytes() }
        }
    }

    /// A dealer id with a `/` could reach into another dealer's keys: refuse it, whoever asks.
    private static func check(_ scope: StoreScope) throws {
        if case .dealer(let id) = scope, !DealerID.isValid(id) {
            throw AccountError(.permissionDenied, "'\(id)' is not a valid dealer id")
        }
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    public func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }

    /// Closes the file; later calls fail.
    public func close() throws {
        pages.close()
        try pool.close()
    }
}
