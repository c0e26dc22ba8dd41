import CopsLinkAccounts
import CopsLinkCore
import Foundation
import PostgresNIO
import Synchronization
import Testing

@testable import CopsLinkPostgres

/// The dealer's retry lock (`PostgresSchema.writeRetryLockClass`), seen from a second session that holds it the way
/// another instance's run again would: a run again waits for its turn; a first run does not.
@Suite("PostgreSQL store: turns")
struct PostgresTurnLockTests {
    @Test(PostgresStoreTests.enabled) func aRunAgainWaitsForTheRunAgainHoldingTheTurn() async throws {
        try await withTurnLockFixture { store, session, dealer in
            let key = PostgresAccountStore.retryLockKey(.dealer(dealer))
            try await Self.holdTurn(key, on: session)
            let runs = Runs()
            let write = Task { try await store.write(.dealer(dealer)) { try Self.loseTheFirstRace($0, runs: runs) } }
            try await Self.waitUntilSomeoneWaits(for: key, on: session, orRuns: runs, beyond: 1)
            #expect(runs.value == 1, "the run again went ahead of the one holding the turn")
            try await Self.releaseTurn(key, on: session)
            try await write.value
            #expect(runs.value == 2)
        }
    }

    /// First runs are optimistic (`PostgresSchema.writeRetryLockClass` says why).
    @Test(PostgresStoreTests.enabled) func aFirstRunDoesNotWaitForTheTurn() async throws {
        try await withTurnLockFixture { store, session, dealer in
            let key = PostgresAccountStore.retryLockKey(.dealer(dealer))
            try await Self.holdTurn(key, on: session)
            let runs = Runs()
            let write = Task { try await store.write(.dealer(dealer)) { _ in runs.count() } }
            try await Self.waitUntilSomeoneWaits(for: key, on: session, orRuns: runs)
            #expect(runs.value == 1, "the first run waited for the turn")
            try await Self.releaseTurn(key, on: session)
            try await write.value
        }
    }

    /// The first run loses a race, as PostgreSQL reports one (a serialization failure); a run again succeeds.
    static func loseTheFirstRace(_ transaction: any AccountWriteTransaction, runs: Runs) throws {
        if runs.count() == 1 {
            try (transaction as! PostgresTransaction).connection.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = 'serialization_failure'; END $$")
        }
    }

    /// A write that commits, one that throws and one that runs again each leave the turn free: the pool's sessions
    /// hold no advisory lock afterwards.
    @Test(PostgresStoreTests.enabled) func everyWayOutOfAWriteReleasesTheTurn() async throws {
        try await withTurnLockFixture { store, session, dealer in
            let key = PostgresAccountStore.retryLockKey(.dealer(dealer))
            let runs = Runs()
            try await store.write(.dealer(dealer)) { _ in }
            await #expect(throws: AccountError.self) {
                try await store.write(.dealer(dealer)) { _ in throw AccountError(.failedPrecondition, "no") }
            }
            try await store.write(.dealer(dealer)) { try Self.loseTheFirstRace($0, runs: runs) }
            #expect(runs.value == 2)
            // A run again whose body throws (it rolls back, then unlocks).
            let again = Runs()
            await #expect(throws: AccountError.self) {
                try await store.write(.dealer(dealer)) { transaction in
                    try Self.loseTheFirstRace(transaction, runs: again)
                    throw AccountError(.failedPrecondition, "no")
                }
            }
            #expect(again.value == 2)
            let rows = try await session.query(
                "SELECT pg_try_advisory_lock(\(PostgresSchema.writeRetryLockClass), \(key))", logger: quietLogger())
            for try await free in rows.decode(Bool.self) { #expect(free, "a pooled session still holds the turn") }
        }
    }

    /// A run again whose wait for the turn fails (here cancelled by the server; `lock_timeout` does the same) was
    /// sent BEGIN behind its lock: its connection goes back to the pool with no transaction open.
    @Test(PostgresStoreTests.enabled) func aRunAgainWhoseLockWaitFailsLeavesNoTransactionOpen() async throws {
        try await withTurnLockFixture { store, session, dealer in
            let key = PostgresAccountStore.retryLockKey(.dealer(dealer))
            try await Self.holdTurn(key, on: session)
            let runs = Runs()
            let write = Task { try await store.write(.dealer(dealer)) { try Self.loseTheFirstRace($0, runs: runs) } }
            let pid = try #require(
                try await Self.waitUntilSomeoneWaits(for: key, on: session, orRuns: runs, beyond: 1),
                "the run again never waited for the turn")
            try await session.query("SELECT pg_cancel_backend(\(pid))", logger: quietLogger())
            await #expect(throws: (any Error).self) { try await write.value }
            let states = try await session.query("SELECT state FROM pg_stat_activity WHERE pid = \(pid)", logger: quietLogger())
            for try await state in states.decode(String.self) {
                #expect(state == "idle", "the pooled connection was left \(state)")
            }
            try await Self.releaseTurn(key, on: session)
        }
    }

    /// Polls `pg_locks` until another session waits for `key`'s turn lock, and returns that session's backend pid; nil
    /// once the write ran more than `limit` times (the rule broken), or after 20 s.
    @discardableResult
    static func waitUntilSomeoneWaits(
        for key: Int32, on session: PostgresConnection, orRuns runs: Runs, beyond limit: Int = 0
    ) async throws -> Int32? {
        let objid = Int64(UInt32(bitPattern: key))
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, runs.value <= limit {
            let rows = try await session.query(
                """
                SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                AND classid::bigint = \(Int64(PostgresSchema.writeRetryLockClass)) AND objid::bigint = \(objid) AND objsubid = 2
                """, logger: quietLogger())
            for try await pid in rows.decode(Int32.self) { return pid }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Takes `key`'s turn lock on `session`, as another instance's run again would.
    static func holdTurn(_ key: Int32, on session: PostgresConnection) async throws {
        try await session.query("SELECT pg_advisory_lock(\(PostgresSchema.writeRetryLockClass), \(key))", logger: quietLogger())
    }

    static func releaseTurn(_ key: Int32, on session: PostgresConnection) async throws {
        try await session.query("SELECT pg_advisory_unlock(\(PostgresSchema.writeRetryLockClass), \(key))", logger: quietLogger())
    }

    /// A store on a schema of its own, a second session on the same database, and a dealer id of this test's own
    /// (advisory locks are per database, and other tests' stores share it).
    func withTurnLockFixture(_ body: (PostgresAccountStore, PostgresConnection, String) async throws -> Void) async throws {
        let schema = try await TestPostgres.createSchema()
        let configuration = try TestPostgres.configuration(schema: schema, poolSize: 2)
        let store = try await PostgresAccountStore(configuration: configuration, logger: quietLogger())
        var sessionConfiguration = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: .disable)
        sessionConfiguration.options.requireBackendKeyData = false
        let session = try await PostgresConnection.connect(configuration: sessionConfiguration, id: 1, logger: quietLogger())
        let dealer = "turns-" + UUID().uuidString.lowercased().prefix(8)
        do {
            try await body(store, session, dealer)
        } catch {
            try? await session.close()
            await store.close()
            try? await TestPostgres.dropSchema(schema)
            throw error
        }
        try await session.close()
        await store.close()
        try await TestPostgres.dropSchema(schema)
    }
}

/// How many times a write's body ran, from any thread.
final class Runs: Sendable {
    private let runs = Mutex(0)

    var value: Int { runs.withLock { $0 } }

    /// Counts one more run and returns the count.
    @discardableResult
    func count() -> Int {
        runs.withLock {
            $0 += 1
            return $0
        }
    }
}
