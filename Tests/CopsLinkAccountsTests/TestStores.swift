import CopsLinkAccounts
import CopsLinkAuth
import CopsLinkCore
import CopsLinkPostgres
import CopsLinkSQLite
import CopsLinkTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// The store a test runs on: suites that hold for every store take `StoreKind.all` as their `arguments`.
enum StoreKind: String, Sendable, CustomTestStringConvertible {
    case sqlite = "SQLite"
    case postgres = "PostgreSQL"

    /// SQLite always; PostgreSQL when `COPSLINK_TEST_POSTGRES_URL` names a server (scripts/test starts one).
    static let all: [StoreKind] = TestPostgres.url == nil ? [.sqlite] : [.sqlite, .postgres]

    var testDescription: String { rawValue }
}

/// A fresh, empty store for one test.
struct TestStore: Sendable {
    let store: any AccountStore & APIKeyStore
    /// The same store when it is SQLite, for the tests of SQLite's own machinery.
    let sqlite: SQLiteAccountStore?
    /// The SQLite file, or "" on PostgreSQL.
    let databasePath: String
    /// Another store on the same database (PostgreSQL: a second server instance); nil on SQLite.
    let openAnother: (@Sendable () async throws -> PostgresAccountStore)?
}

/// Runs `body` with a fresh store of `kind`, deleted afterwards: an SQLite file, or a PostgreSQL schema of its own
/// (so tests run in parallel on one database).
func withTestStore<Result: Sendable>(
    _ kind: StoreKind, logger: Logger = quietLogger(), _ body: (TestStore) async throws -> Result
) async throws -> Result {
    switch kind {
    case .sqlite:
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteAccountStore(path: path, logger: logger)
        return try await body(TestStore(store: store, sqlite: store, databasePath: path, openAnother: nil))
    case .postgres:
        await TestPostgres.slots.acquire()
        do {
            let result = try await withPostgresTestStore(logger: logger, body)
            await TestPostgres.slots.release()
            return result
        } catch {
            await TestPostgres.slots.release()
            throw error
        }
    }
}

/// `withTestStore(.postgres)`: a schema of its own, dropped at the end.
private func withPostgresTestStore<Result: Sendable>(
    logger: Logger, _ body: (TestStore) async throws -> Result
) async throws -> Result {
    let schema = try await TestPostgres.createSchema()
    // Every store opened on the schema, closed at the end.
    let opened = LockedBox<[PostgresAccountStore]>([])
    let open = { @Sendable in
        let store = try await PostgresAccountStore(configuration: try TestPostgres.configuration(schema: schema), logger: logger)
        opened.withLock { $0.append(store) }
        return store
    }
    let closeAll = {
        for store in opened.value { await store.close() }
    }
    do {
        let result = try await body(TestStore(store: try await open(), sqlite: nil, databasePath: "", openAnother: open))
        await closeAll()
        try await TestPostgres.dropSchema(schema)
        return result
    } catch {
        await closeAll()
        try? await TestPostgres.dropSchema(schema)
        throw error
    }
}

/// The PostgreSQL server the tests use, from `COPSLINK_TEST_POSTGRES_URL`.
enum TestPostgres {
    static let url = ProcessInfo.processInfo.environment["COPSLINK_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// PostgreSQL tests running at once, at most: each holds a few connections, and a server of the user's may
    /// allow only PostgreSQL's default 100.
    static let slots = AsyncSlots(12)

    static let skipped =
        "COPSLINK_TEST_POSTGRES_URL is not set: the PostgreSQL store's cases are skipped (scripts/test starts a throwaway "
        + "server and sets it; or set it to postgres://USER@HOST:PORT/DATABASE)"

    /// Small pools: many tests run at once, each with a store of its own.
    static func configuration(schema: String?, poolSize: Int = 4) throws -> PostgresStoreConfiguration {
        var configuration = try PostgresStoreConfiguration(
            url: try #require(url, Comment(rawValue: skipped)), password: ProcessInfo.processInfo.environment["PGPASSWORD"],
            poolSize: poolSize)
        configuration.schema = schema
        return configuration
    }

    /// Creates a schema named for this test run and returns its name.
    static func createSchema() async throws -> String {
        let schema = "copslink_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        // The name is made here of [a-z0-9_]: safe to splice, as identifiers cannot be bound.
        try await administer("CREATE SCHEMA \(unescaped: schema)")
        return schema
    }

    static func dropSchema(_ schema: String) async throws {
        precondition(schema.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
        try await administer("DROP SCHEMA \(unescaped: schema) CASCADE")
    }

    /// Runs one statement on a connection of its own.
    /// Runs `body` with the URL of a new, empty database of the test server (for server processes, which take a
    /// URL, not a schema), dropped afterwards.
    static func withDatabase<Result: Sendable>(_ body: (String) async throws -> Result) async throws -> Result {
        let database = "copslink_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await administer("CREATE DATABASE \(unescaped: database)")
        do {
            let base = try #require(TestPostgres.url)
            var url = try #require(URLComponents(string: base))
            url.path = "/" + database
            let result = try await body(try #require(url.string))
            try await administer("DROP DATABASE \(unescaped: database) WITH (FORCE)")
            return result
        } catch {
            try? await administer("DROP DATABASE \(unescaped: database) WITH (FORCE)")
            throw error
        }
    }

    static func administer(_ query: PostgresQuery) async throws {
        let store = try configuration(schema: nil)
        var configuration = PostgresConnection.Configuration(
            host: store.host, port: store.port, username: store.username, password: store.password, database: store.database,
            tls: .disable)
        configuration.options.requireBackendKeyData = false
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quietLogger())
        do {
            try await connection.query(query, logger: quietLogger())
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// A counting semaphore for tasks: `acquire` waits while every slot is taken.
actor AsyncSlots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
