import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Testing

/// Crash safety: several clients write through a real `copslink-server`, the server is SIGKILLed at a random moment,
/// restarted on the same database, and every write it acknowledged must still be there, in a database that passes
/// `PRAGMA integrity_check`. Five rounds on one file, so each restart recovers a database that has crashed before.
///
/// The kill time comes from a seeded generator; the seed is printed, and `COPSLINK_CRASH_SEED=<seed>` replays a run.
///
/// What this can and cannot catch: SIGKILL loses whatever the server process held and had not handed to the kernel
/// (a write acknowledged before its transaction committed, a batch or cache flushed later, a transaction left
/// open), which is exactly what it checks. It does not lose what the kernel already has, so a missing fsync (power
/// loss) is out of its reach; `synchronous = FULL` covers that, and is not tested here.
///
/// The writers are many enough that their writes share commits (group commit, `SQLiteGroupCommit`): the server logs
/// a debug line for each shared commit, and the test requires some, so that the batched path is the one crashed.
@Suite("Crash safety under SIGKILL", .serialized)
struct CrashSafetyTests {
    static let rounds = 5
    /// Each writes one call at a time: with 8, calls arrive while a commit runs, and share the next.
    static let writers = 8

    /// What one customer's writer has had acknowledged. The writer of a customer is the only one writing it.
    struct Acknowledged: Sendable {
        var accountNumber: String
        var onTest = false
        /// PlaceOffTest was sent; if it was not acknowledged, the test status is unknown after the crash.
        var offTestSent = false
        var offTest = false
        /// `receivedAtMs` of the signal whose ReportSignals call answered with one test result.
        var resultAtMs: Int64?
    }

    /// On PostgreSQL the server is killed the same way, on a database of its own; the SQLite-only checks (the file's
    /// integrity, the group commit's log line) are left out: PostgreSQL's own recovery is not under test.
    @Test(arguments: StoreKind.all)
    func acknowledgedWritesSurviveRepeatedSIGKILL(_ kind: StoreKind) async throws {
        switch kind {
        case .sqlite:
            let database = temporaryDatabasePath("copslink-crash")
            defer { removeDatabase(at: database) }
            try await Self.crashRepeatedly(database: database, sqlite: true)
        case .postgres:
            try await TestPostgres.withDatabase { url in try await Self.crashRepeatedly(database: url, sqlite: false) }
        }
    }

    static func crashRepeatedly(database: String, sqlite: Bool) async throws {
        let seed = ProcessInfo.processInfo.environment["COPSLINK_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("CrashSafetyTests: seed \(seed) (replay with COPSLINK_CRASH_SEED=\(seed))")
        var random = SplitMix64(seed: seed)  // replayable from the printed seed
        let log = temporaryDatabasePath("copslink-crash") + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let logHandle = try #require(FileHandle(forWritingAtPath: log))
        defer { try? logHandle.close() }
        // Debug lines for the store's shared commits; calls at trace, so not logged.
        let start = {
            try await ServerProcess.start(
                database: database, arguments: ["--log-level", "debug", "--call-log-level", "trace"], standardError: logHandle)
        }

        let acknowledged = LockedBox<[String: Acknowledged]>([:])
        let nextAccount = LockedBox(1000)  // Contact ID accounts are four digits: 1000, 1001, …
        var server = try await start()
        for round in 1...Self.rounds {
            let killAfter = Duration.milliseconds(Int64(Int.random(in: 0...500, using: &random)))
            let before = acknowledged.value.count
            let failures = LockedBox(0)
            let running = server
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) {
                transport in
                let client = AccountService.Client(wrapping: RPCClient(transport: transport))
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<Self.writers {
                        group.addTask {
                            do {
                                try await Self.write(client, round: round, writer: writer, into: acknowledged, accounts: nextAccount)
                            } catch {
                                failures.withLock { $0 += 1 }  // the kill: expected, and where acknowledgement stops
                            }
                        }
                    }
                    // The random delay counts from the first acknowledged writes of the round, so that a slow start
                    // (a loaded machine, the whole suite in parallel) cannot leave a round with nothing to check.
                    let started = ContinuousClock.now
                    while acknowledged.value.count - before < Self.writers, ContinuousClock.now - started < .seconds(60) {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    try? await Task.sleep(for: killAfter)
                    await running.killAndWait()
                    await group.waitForAll()
                }
            }
            let state = acknowledged.value
            print(
                "CrashSafetyTests: round \(round): killed \(killAfter) after the first acknowledgements, \(state.count - before) customers this round, \(state.count) in all"
            )
            #expect(failures.value == Self.writers, "every writer was still writing when the server died")
            #expect(state.count > before, "round \(round) acknowledged some writes before the kill")

            server = try await start()
            try await Self.verify(state, port: server.port, round: round)
            guard sqlite else { continue }
            let store = try SQLiteAccountStore(path: database)
            let integrity = try await store.integrityCheck()
            try store.close()
            #expect(integrity == "ok", "integrity_check after round \(round)")
        }
        await server.stopAndWait()
        guard sqlite else { return }
        let sharedCommits = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains("group commit") }
        print("CrashSafetyTests: \(sharedCommits.count) commits shared by several writes, e.g. \(sharedCommits.first ?? "none")")
        #expect(!sharedCommits.isEmpty, "concurrent writes shared commits, so the crashes hit the batched path")
        let store = try SQLiteAccountStore(path: database)
        let integrity = try await store.integrityCheck()
        try store.close()
        #expect(integrity == "ok", "integrity_check after a clean stop")
    }

    /// Writes until a call fails: for each new customer LinkAccount, PlaceOnTest, ReportSignals (one test result) and,
    /// for every other customer, PlaceOffTest; each acknowledgement is recorded as soon as it arrives.
    static func write(
        _ client: AccountService.Client, round: Int, writer: Int, into acknowledged: LockedBox<[String: Acknowledged]>,
        accounts: LockedBox<Int>
    ) async throws {
        let options = CallOptions(timeout: .seconds(5))
        for index in 0... {
            let id = "crash-r\(round)-w\(writer)-\(index)"
            let accountNumber = accounts.withLock { next in
                defer { next += 1 }
                return String(next)
            }
            let (customer, parties) = provoCustomer(id)
            let linked = try await client.linkAccount(
                LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: accountNumber), options: options)
            #expect(linked.account?.accountNumber == accountNumber)
            acknowledged.withLock { $0[id] = Acknowledged(accountNumber: accountNumber) }

            _ = try await client.placeOnTest(
                PlaceOnTestRequest(customerID: id, categoryID: "service", durationHours: 2), options: options)
            acknowledged.withLock { $0[id]?.onTest = true }

            let atMs = Int64(Date().timeIntervalSince1970 * 1000)
            let signal = Signal(
                receivedAtMs: atMs,
                contactID: ContactIDMessage.make(account: accountNumber, qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "001"))
            let report = try await client.reportSignals(Messages([signal]), options: options)
            #expect(report.testResults == 1, "the signal of \(id) is a test result")
            if report.testResults == 1 { acknowledged.withLock { $0[id]?.resultAtMs = atMs } }

            if index % 2 == 0 {
                acknowledged.withLock { $0[id]?.offTestSent = true }
                _ = try await client.placeOffTest(PlaceOffTestRequest(customerID: id, comment: "done"), options: options)
                acknowledged.withLock { $0[id]?.offTest = true }
            }
        }
    }

    /// Every acknowledged write of every round so far, through the RPCs of the restarted server.
    static func verify(_ state: [String: Acknowledged], port: Int, round: Int) async throws {
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
            let client = AccountService.Client(wrapping: RPCClient(transport: transport))
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            let ids = state.keys.sorted()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for part in 0..<Self.writers {
                    group.addTask {
                        for id in ids.enumerated().filter({ $0.offset % Self.writers == part }).map(\.element) {
                            let expected = state[id]!
                            let account: Account
                            do {
                                account = try await client.getAccount(GetAccountRequest(customerID: id))
                            } catch {
                                Issue.record("round \(round): acknowledged LinkAccount of \(id) is lost: \(error)")
                                continue
                            }
                            #expect(account.accountNumber == expected.accountNumber, "round \(round): account number of \(id)")
                            #expect(account.linkState == .linked, "round \(round): \(id) is linked")
                            let onTest = account.testStatus?.onTest == true
                            if expected.offTest {
                                #expect(!onTest, "round \(round): acknowledged PlaceOffTest of \(id) is lost")
                            } else if expected.onTest, !expected.offTestSent {
                                #expect(onTest, "round \(round): acknowledged PlaceOnTest of \(id) is lost")
                            }
                            if let atMs = expected.resultAtMs {
                                let pages = try await client.requestTestData(
                                    RequestTestDataRequest(customerID: id, type: .results, fromMs: atMs - 60_000, toMs: nowMs)
                                ) { try await $0.collect() }
                                let times = pages.flatMap(\.results).map(\.receivedAtMs)
                                #expect(times.contains(atMs), "round \(round): acknowledged test result of \(id) is lost")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
