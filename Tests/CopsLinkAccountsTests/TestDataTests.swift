import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

@Suite("RequestTestData")
struct TestDataTests {
    func expectRefused(
        _ fixture: AccountFixture, _ request: RequestTestDataRequest, _ code: StatusCode, message: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let error = await expectRPCError(code, sourceLocation: sourceLocation) {
            _ = try await fixture.client.requestTestData(request) { try await $0.collect() }
        }
        if let message { #expect(error?.message == message, sourceLocation: sourceLocation) }
    }

    @Test(arguments: StoreKind.all) func validation(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let now = fixture.now
            func request(
                _ type: TestDataType = .history, from: Int64 = now - dayMs, to: Int64 = now, pageSize: UInt32 = 0
            ) -> RequestTestDataRequest {
                RequestTestDataRequest(customerID: "cust-1", type: type, fromMs: from, toMs: to, pageSize: pageSize)
            }
            await expectRefused(
                fixture, request(.unspecified), .invalidArgument, message: "Choose the type of test data: history, results or signals.")
            await expectRefused(
                fixture, request(from: now, to: now - 1), .invalidArgument, message: "The start of the date range is after its end.")
            await expectRefused(
                fixture, request(to: now + 2 * minuteMs), .invalidArgument, message: "The end of the date range lies in the future.")
            await expectRefused(fixture, request(to: now + minuteMs + 1), .invalidArgument)
            await expectRefused(
                fixture, request(from: now + dayMs, to: now), .invalidArgument, message: "The start of the date range lies in the future.")
            await expectRefused(
                fixture, request(from: now - 32 * dayMs), .invalidArgument,
                message: "The date range may span at most 31 days; this one spans 32.0 days.")
            await expectRefused(fixture, request(from: now - 31 * dayMs - 1), .invalidArgument)
            await expectRefused(fixture, request(pageSize: 6000), .invalidArgument, message: "Page size 6000 is above the maximum of 5000.")
            await expectRefused(
                fixture, RequestTestDataRequest(customerID: "nobody", type: .history, fromMs: now - dayMs, toMs: now), .notFound,
                message: "No customer 'nobody': none by that id was ever linked to a central-station account.")

            // At the limits: accepted (and empty).
            for accepted in [
                request(from: now - 31 * dayMs), request(.results, from: now - 31 * dayMs), request(to: now + minuteMs),
                request(from: now, to: now), request(pageSize: 5000)
            ] {
                #expect(try await fixture.client.requestTestData(accepted) { try await $0.collect() } == [])
            }

            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            await expectRefused(
                fixture, request(), .failedPrecondition,
                message: "The central-station account of customer 'cust-1' is unlinked; link it first.")
        }
    }

    /// An extreme `from_ms` used to overflow the span subtraction and kill the server (issue 10).
    @Test(arguments: StoreKind.all) func timestampsOutOfRangeAreRefusedNamingTheField(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let now = fixture.now
            let range = "(0 to 253402300799999, Unix epoch milliseconds)."
            for value in [Int64.min, -1] {
                await expectRefused(
                    fixture, RequestTestDataRequest(customerID: "cust-1", type: .history, fromMs: value, toMs: now), .invalidArgument,
                    message: "from_ms \(value) is out of range \(range)")
                await expectRefused(
                    fixture, RequestTestDataRequest(customerID: "cust-1", type: .history, fromMs: value, toMs: value), .invalidArgument,
                    message: "from_ms \(value) is out of range \(range)")
            }
            await expectRefused(
                fixture, RequestTestDataRequest(customerID: "cust-1", type: .history, fromMs: 0, toMs: .max), .invalidArgument,
                message: "to_ms 9223372036854775807 is out of range \(range)")
        }
    }

    @Test(arguments: StoreKind.all) func aConfiguredSpan(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumTestDataSpanMs = 7 * dayMs
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkProvoCustomer(fixture)
            await expectRefused(
                fixture, RequestTestDataRequest(customerID: "cust-1", type: .results, fromMs: fixture.now - 8 * dayMs, toMs: fixture.now),
                .invalidArgument, message: "The date range may span at most 7 days; this one spans 8.0 days.")
        }
    }

    /// 1,234 test results, spread over a test and sent in a shuffled order.
    func ingestResults(
        _ fixture: AccountFixture, count: Int = 1234, spacingMs: Int64 = 2_000
    ) async throws -> (times: [Int64], session: TestSession) {
        let account = try await linkProvoCustomer(fixture)
        let session = try await fixture.placeOnTest(hours: 1)
        let times = (0..<Int64(count)).map { AccountFixture.start + $0 * spacingMs }
        var generator = SplitMix64(seed: 7)
        let signals = times.shuffled(using: &generator).enumerated().map { index, at in
            Signal(
                accountNumber: account.accountNumber, receivedAtMs: at, qualifier: 1, eventCode: "601", partition: 1,
                zoneOrUser: zoneNumber(index % 4 + 1))
        }
        // Reported once the last was received, so that none is dated ahead of the server's clock.
        fixture.clock.set(nowMs: times.last!)
        let response = try await fixture.report(signals)
        #expect(response == ReportSignalsResponse(received: UInt32(count), testResults: UInt32(count)))
        fixture.clock.set(nowMs: AccountFixture.start + hourMs)
        return (times, session)
    }

    @Test(arguments: StoreKind.all) func resultsArePagedOldestFirstWithNothingLostOrDuplicated(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let (times, session) = try await ingestResults(fixture)
            let pages = try await fixture.testDataPages(.results, fromMs: AccountFixture.start, toMs: fixture.now, pageSize: 100)
            #expect(pages.map(\.results.count) == Array(repeating: 100, count: 12) + [34])
            #expect(pages.allSatisfy { $0.history.isEmpty }, "only the requested list is filled")
            let received = pages.flatMap(\.results).map(\.receivedAtMs)
            #expect(received == times, "oldest first, each exactly once")
            #expect(zip(received, received.dropFirst()).allSatisfy { $0 < $1 }, "strictly increasing")
            #expect(pages.flatMap(\.results).allSatisfy { $0.sessionID == session.id && $0.eventDescription == "Manual test" })

            // The default page size is 500.
            let defaultPages = try await fixture.testDataPages(.results, fromMs: AccountFixture.start, toMs: fixture.now)
            #expect(defaultPages.map(\.results.count) == [500, 500, 234])
            #expect(defaultPages.flatMap(\.results) == pages.flatMap(\.results))

            // Pages that end exactly at the last result: no empty page after them.
            let halves = try await fixture.testDataPages(.results, fromMs: AccountFixture.start, toMs: fixture.now, pageSize: 617)
            #expect(halves.map(\.results.count) == [617, 617])
            let whole = try await fixture.testDataPages(.results, fromMs: AccountFixture.start, toMs: fixture.now, pageSize: 5000)
            #expect(whole.map(\.results.count) == [1234])
        }
    }

    @Test(arguments: StoreKind.all) func theRangeIsInclusiveAndExcludesEverythingOutside(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let (times, _) = try await ingestResults(fixture, count: 300)
            let from = times[100]
            let to = times[199]
            let results = try await fixture.testDataPages(.results, fromMs: from, toMs: to, pageSize: 30).flatMap(\.results)
            #expect(results.map(\.receivedAtMs) == Array(times[100...199]))
            let inside = try await fixture.testDataPages(.results, fromMs: from + 1, toMs: to - 1).flatMap(\.results)
            #expect(inside.map(\.receivedAtMs) == Array(times[101...198]))
            #expect(try await fixture.testDataPages(.results, fromMs: AccountFixture.start - dayMs, toMs: AccountFixture.start - 1) == [])
        }
    }

    @Test(arguments: StoreKind.all) func historyIsPagedToo(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            for _ in 0..<7 {
                try await fixture.placeOnTest(hours: 0, minutes: 10)
                fixture.clock.advance(byMs: minuteMs)
                _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
                fixture.clock.advance(byMs: minuteMs)
            }
            let pages = try await fixture.testDataPages(.history, fromMs: AccountFixture.start, toMs: fixture.now, pageSize: 4)
            #expect(pages.map(\.history.count) == [4, 4, 4, 2])
            #expect(pages.allSatisfy { $0.results.isEmpty })
            let entries = pages.flatMap(\.history)
            #expect(entries.map(\.action) == Array(repeating: [TestHistoryAction.placedOnTest, .placedOffTest], count: 7).flatMap { $0 })
            #expect(entries.map(\.atMs) == (0..<14).map { AccountFixture.start + Int64($0) * minuteMs })
        }
    }
}
