import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Foundation
import Testing

// Helpers shared by the account-service tests (besides AccountHarness.swift).

let minuteMs: Int64 = 60_000
let hourMs: Int64 = 3_600_000
let dayMs: Int64 = 86_400_000

/// A fresh client request id.
func newRequestID() -> String { UUID().uuidString.lowercased() }

/// A zone number, "001".."999".
func zoneNumber(_ value: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
}

/// A Contact ID signal (message type 18) built with `ContactIDMessage.make`, received at `atMs`.
func contactIDSignal(
    account: String = "1234", qualifier: UInt32 = 1, event: String, partition: UInt32 = 1, zoneOrUser: String, atMs: Int64
) -> Signal {
    Signal(
        receivedAtMs: atMs,
        contactID: ContactIDMessage.make(
            account: account, qualifier: qualifier, eventCode: event, partition: partition, zoneOrUser: zoneOrUser))
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

extension AccountFixture {
    var now: Int64 { clock.nowMs() }

    /// Places `customerID` on test (category "service" unless told) and returns the session.
    @discardableResult
    func placeOnTest(
        _ customerID: String = "cust-1", hours: UInt32 = 1, minutes: UInt32 = 0, effectiveAtMs: Int64 = 0, scope: TestScope = .allZones,
        zones: [String] = [], requestID: String = ""
    ) async throws -> TestSession {
        let response = try await client.placeOnTest(
            PlaceOnTestRequest(
                requestID: requestID, customerID: customerID, categoryID: "service", durationHours: hours, durationMinutes: minutes,
                effectiveAtMs: effectiveAtMs, scope: scope, zoneNumbers: zones, placedBy: UserRef(id: "tech-7", name: "Tess Tech")))
        return try #require(response.session)
    }

    /// Every page of a RequestTestData call.
    func testDataPages(
        _ type: TestDataType, customerID: String = "cust-1", fromMs: Int64, toMs: Int64, pageSize: UInt32 = 0
    ) async throws -> [TestDataPage] {
        try await client.requestTestData(
            RequestTestDataRequest(customerID: customerID, type: type, fromMs: fromMs, toMs: toMs, pageSize: pageSize)
        ) { try await $0.collect() }
    }

    /// Test history from `fromMs` (default: a day before the fixture's start) to now.
    func history(_ customerID: String = "cust-1", fromMs: Int64 = AccountFixture.start - dayMs) async throws -> [TestHistoryEntry] {
        try await testDataPages(.history, customerID: customerID, fromMs: fromMs, toMs: now).flatMap(\.history)
    }

    /// Test results from `fromMs` (default: a day before the fixture's start) to now.
    func results(_ customerID: String = "cust-1", fromMs: Int64 = AccountFixture.start - dayMs) async throws -> [TestResult] {
        try await testDataPages(.results, customerID: customerID, fromMs: fromMs, toMs: now).flatMap(\.results)
    }

    func report(_ signals: [Signal]) async throws -> ReportSignalsResponse {
        try await client.reportSignals(Messages(signals))
    }

    func openSession(_ customerID: String = "cust-1") async throws -> TestSession? {
        try await store.read(.dealer(DealerID.demo)) { transaction in
            guard let link = try transaction.link(customerID: customerID) else { return nil }
            return try transaction.openSession(accountNumber: link.accountNumber)
        }
    }
}
