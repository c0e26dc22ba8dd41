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

@Suite("Durability across restarts", .serialized)
struct RestartTests {
    /// Acknowledged writes survive SIGKILL of a real server process: link accounts, add zones, place tests, then kill
    /// the process mid-stream and check every acknowledged change after a restart on the same file.
    @Test func acknowledgedWritesSurviveSIGKILL() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }

        let first = try await ServerProcess.start(database: database, arguments: ["--demo"])
        let acknowledged = LockedBox<[String: String]>([:])  // customer id → account number
        let onTest = LockedBox<Set<String>>([])
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: first.port)) { transport in
            let client = AccountService.Client(wrapping: RPCClient(transport: transport))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<10 {
                            let id = "crash-\(writer)-\(index)"
                            let (customer, parties) = provoCustomer(id)
                            let linked = try await client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
                            acknowledged.withLock { $0[id] = linked.account?.accountNumber ?? "" }
                            if index % 2 == 0 {
                                _ = try await client.placeOnTest(
                                    PlaceOnTestRequest(customerID: id, categoryID: "service", durationHours: 2))
                                onTest.withLock { _ = $0.insert(id) }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Kill while more writes are in flight: those may or may not land, the acknowledged ones must.
            let inFlight = Task {
                for index in 0..<50 {
                    let (customer, _) = provoCustomer("late-\(index)")
                    _ = try? await client.linkAccount(LinkAccountRequest(customer: customer))
                }
            }
            try await Task.sleep(for: .milliseconds(20))
            await first.killAndWait()
            _ = await inFlight.value
        }

        let second = try await ServerProcess.start(database: database, arguments: ["--demo"])
        defer { second.stop() }
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: second.port)) { transport in
            let client = AccountService.Client(wrapping: RPCClient(transport: transport))
            let expected = acknowledged.value
            #expect(expected.count == 40)
            for (id, accountNumber) in expected {
                let account = try await client.getAccount(GetAccountRequest(customerID: id))
                #expect(account.accountNumber == accountNumber)
                #expect(account.respondingParties.count == 2)
                #expect(account.testStatus?.onTest == onTest.value.contains(id), "test status of \(id)")
            }
            // The demo data was seeded once, before the crash, and is intact.
            let demo = try await client.getAccount(GetAccountRequest(customerID: "demo-1"))
            #expect(demo.accountNumber == "22-8761")
        }
        let store = try SQLiteAccountStore(path: database)
        #expect(try await store.integrityCheck() == "ok")
        try store.close()
    }

    /// A test that expired while the server was down is ended at its own expiry time by the first pass after the
    /// restart, with the "expired" history entry at that time.
    @Test func testsThatExpiredWhileDownAreEndedAtTheirExpiry() async throws {
        let database = temporaryDatabasePath()
        defer { removeDatabase(at: database) }
        let clock = ManualAccountClock(nowMs: AccountFixture.start)
        do {
            let store = try SQLiteAccountStore(path: database)
            let service = AccountServiceImplementation(store: store, clock: clock)
            let context = ServerContext(
                descriptor: AccountService.Method.placeOnTest, metadata: [:], deadline: nil, peer: "test", callID: 1)
            let (customer, parties) = provoCustomer()
            _ = try await service.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties), context: context)
            _ = try await service.placeOnTest(
                PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1), context: context)
            try store.close()
        }
        clock.advance(byMs: 5 * 3_600_000)  // the server is down for five hours
        let store = try SQLiteAccountStore(path: database)
        let expiry = TestExpiryScheduler(store: store, clock: clock, logger: quietLogger())
        #expect(try await expiry.expireDue() == 1)
        let history = try await store.read(.dealer(DealerID.demo)) {
            try $0.testHistory(
                accountNumber: try $0.link(customerID: "cust-1")!.accountNumber, fromMs: 0, toMs: .max, after: nil, limit: 10
            )
            .map(\.1)
        }
        #expect(history.map(\.action) == [.placedOnTest, .expired])
        #expect(history.last?.atMs == AccountFixture.start + 3_600_000)
        #expect(
            try await store.read(.dealer(DealerID.demo)) {
                try $0.openSession(accountNumber: try $0.link(customerID: "cust-1")!.accountNumber)
            } == nil)
        try store.close()
    }
}
