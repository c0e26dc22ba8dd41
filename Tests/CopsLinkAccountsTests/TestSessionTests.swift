import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

@Suite("Placing on and off test")
struct TestSessionTests {
    static let service = TestCategory(id: "service", description: "Service / repair", defaultDurationMinutes: 120)

    func status(_ fixture: AccountFixture) async throws -> TestStatus {
        try await fixture.client.getTestStatus(GetTestStatusRequest(customerID: "cust-1"))
    }

    /// Expects `request` to be refused with `code` and `message`, and the account to stay off test.
    func expectRefused(
        _ fixture: AccountFixture, _ request: PlaceOnTestRequest, _ message: String, code: StatusCode = .invalidArgument,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let error = await expectRPCError(code, sourceLocation: sourceLocation) { _ = try await fixture.client.placeOnTest(request) }
        #expect(error?.message == message, sourceLocation: sourceLocation)
    }

    func request(
        hours: UInt32 = 1, minutes: UInt32 = 0, category: String = "service", effectiveAtMs: Int64 = 0, scope: TestScope = .allZones,
        zones: [String] = []
    ) -> PlaceOnTestRequest {
        PlaceOnTestRequest(
            customerID: "cust-1", categoryID: category, durationHours: hours, durationMinutes: minutes, effectiveAtMs: effectiveAtMs,
            scope: scope, zoneNumbers: zones)
    }

    @Test(arguments: StoreKind.all) func listTestCategoriesReturnsTheReferenceCategories(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let categories = try await fixture.client.listTestCategories().categories
            #expect(categories == ReferenceData.testCategories)
            #expect(categories.map(\.id) == ["installation", "service", "customer-test", "construction", "fire-inspection", "other"])
        }
    }

    @Test(arguments: StoreKind.all) func placeOnTestHappyPath(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let response = try await fixture.client.placeOnTest(
                PlaceOnTestRequest(
                    customerID: "cust-1", categoryID: "service", durationHours: 2, durationMinutes: 30, scope: .onlyListed,
                    zoneNumbers: ["001", "003"], comment: "Replacing the motion sensor", placedBy: UserRef(id: "tech-7", name: "Tess Tech"),
                    authorizedBy: TestAuthorization(respondingPartyID: "p-1", verifiedBy: "passcode")))
            let session = try #require(response.session)
            #expect(!session.id.isEmpty)
            #expect(
                session
                    == TestSession(
                        id: session.id, category: Self.service, effectiveAtMs: AccountFixture.start,
                        expiresAtMs: AccountFixture.start + 150 * minuteMs, scope: .onlyListed, zoneNumbers: ["001", "003"],
                        comment: "Replacing the motion sensor", placedBy: UserRef(id: "tech-7", name: "Tess Tech"),
                        authorizedBy: TestAuthorization(respondingPartyID: "p-1", verifiedBy: "passcode"), state: .active))
            #expect(try await status(fixture) == TestStatus(onTest: true, current: session, state: .onTest))
            let account = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
            #expect(account.testStatus == TestStatus(onTest: true, current: session, state: .onTest))
            // Still active a minute before the end.
            fixture.clock.advance(byMs: 149 * minuteMs)
            #expect(try await status(fixture).onTest)

            let history = try await fixture.history()
            #expect(
                history == [
                    TestHistoryEntry(
                        atMs: AccountFixture.start, action: .placedOnTest, sessionID: session.id, category: Self.service,
                        effectiveAtMs: session.effectiveAtMs, expiresAtMs: session.expiresAtMs,
                        user: UserRef(id: "tech-7", name: "Tess Tech"),
                        comment: "Replacing the motion sensor")
                ])
        }
    }

    @Test(arguments: StoreKind.all) func alreadyOnTestIsRefused(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let first = try await fixture.placeOnTest()
            fixture.clock.advance(byMs: 10 * minuteMs)
            try await expectRefused(fixture, request(hours: 2), "System is currently on test.", code: .failedPrecondition)
            #expect(try await status(fixture).current?.id == first.id, "the first test stays")
            #expect(try await fixture.history().count == 1)
        }
    }

    @Test(arguments: StoreKind.all) func theAuthorizerMustBeARespondingPartyAndVerificationNeedsOne(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            var unknown = request()
            unknown.authorizedBy = TestAuthorization(respondingPartyID: "p-9", verifiedBy: "passcode")
            try await expectRefused(fixture, unknown, "authorized_by: 'p-9' is not a responding party of this account.")
            var noAuthorizer = request()
            noAuthorizer.authorizedBy = TestAuthorization(respondingPartyID: "", verifiedBy: "passcode")
            try await expectRefused(
                fixture, noAuthorizer,
                "authorized_by needs the responding party who authorized the test (verification needs an authorizer).")
            #expect(try await fixture.openSession() == nil, "nothing was placed")
            var known = request()
            known.authorizedBy = TestAuthorization(respondingPartyID: "p-2", verifiedBy: "")
            let placed = try await fixture.client.placeOnTest(known)
            #expect(placed.session?.authorizedBy?.respondingPartyID == "p-2")
        }
    }

    @Test(arguments: StoreKind.all) func unlinkingEndsAnOpenTestWithAHistoryEntrySayingWhy(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let account = try await linkProvoCustomer(fixture)
            let session = try await fixture.placeOnTest(hours: 2)
            fixture.clock.advance(byMs: minuteMs)
            let unlinked = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            #expect(unlinked.account?.testStatus == TestStatus(state: .offTest))
            #expect(try await fixture.openSession() == nil, "no account stays on test after unlinking")
            var ended = session
            ended.state = .ended
            ended.endedAtMs = AccountFixture.start + minuteMs
            ended.endReason = .placedOff
            #expect(unlinked.endedTest == ended, "the answer names the test the unlink ended")
            let (customer, parties) = provoCustomer("cust-1")
            _ = try await fixture.client.linkAccount(
                LinkAccountRequest(customer: customer, respondingParties: parties, accountNumber: account.accountNumber))
            let history = try await fixture.history()
            #expect(history.map(\.action) == [.placedOnTest, .placedOffTest])
            #expect(history.last?.sessionID == session.id)
            #expect(history.last?.comment == "Placed off test: the account was unlinked")
            #expect(history.last?.atMs == AccountFixture.start + minuteMs)
            // Linked again and not on test: the unlink ends nothing; already unlinked, likewise.
            let notOnTest = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            #expect(notOnTest.wasLinked && notOnTest.endedTest == nil)
            let again = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            #expect(!again.wasLinked && again.endedTest == nil)
        }
    }

    @Test(arguments: StoreKind.all) func scheduledInTheFuture(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let effective = AccountFixture.start + hourMs
            let session = try await fixture.placeOnTest(hours: 1, effectiveAtMs: effective)
            #expect(session.state == .scheduled)
            #expect(session.effectiveAtMs == effective)
            #expect(session.expiresAtMs == effective + hourMs)
            let scheduled = try await status(fixture)
            #expect(
                scheduled == TestStatus(onTest: false, current: session, state: .scheduled), "scheduled: not on test, the session shown")
            #expect(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")).testStatus == scheduled)
            try await expectRefused(
                fixture, request(), "A test is already scheduled for this account; place it off test first.", code: .failedPrecondition)
            // It starts by itself.
            fixture.clock.advance(byMs: hourMs)
            var active = session
            active.state = .active
            #expect(try await status(fixture) == TestStatus(onTest: true, current: active, state: .onTest))
            _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            #expect(try await status(fixture) == TestStatus(onTest: false, current: nil, state: .offTest))
        }
    }

    @Test(arguments: StoreKind.all) func durationAndScopeRulesWithTheDefaultConfiguration(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            try await expectRefused(fixture, request(hours: 1, minutes: 60), "Minutes must be between 0 and 59, got 60.")
            try await expectRefused(fixture, request(hours: 25), "A test of 25 hours is longer than the maximum of 24 hours.")
            try await expectRefused(
                fixture, request(hours: 24, minutes: 1), "A test of 24 hours 1 minute is longer than the maximum of 24 hours.")
            try await expectRefused(fixture, request(category: "bogus"), "Unknown test category 'bogus'; ListTestCategories names them.")
            try await expectRefused(fixture, request(category: ""), "Choose a test category.")
            try await expectRefused(fixture, request(scope: .onlyListed), "List at least one zone for a test of only listed zones.")
            try await expectRefused(
                fixture, request(scope: .allExceptListed), "List at least one zone for a test of all except listed zones.")
            try await expectRefused(fixture, request(scope: .onlyListed, zones: ["099"]), "Zone 099 is not a zone of this account.")
            try await expectRefused(
                fixture, request(scope: .allExceptListed, zones: ["001", "099"]), "Zone 099 is not a zone of this account.")
            try await expectRefused(
                fixture, request(scope: .onlyListed, zones: ["1"]), "Zone number '1' must be three digits from 001 to 999.")
            try await expectRefused(fixture, request(scope: .onlyListed, zones: ["001", "001"]), "A zone is listed twice.")
            try await expectRefused(
                fixture, request(scope: .allZones, zones: ["001"]),
                "A test of all zones lists no zones; choose 'only listed' or 'all except listed'.")
            for value in [Int64.min, -1, .max] {
                try await expectRefused(
                    fixture, request(effectiveAtMs: value),
                    "effective_at_ms \(value) is out of range (0 to 253402300799999, Unix epoch milliseconds).")
            }
            try await expectRefused(
                fixture, request(effectiveAtMs: AccountFixture.start - 10 * minuteMs),
                "The effective time lies in the past; choose now or later.")
            try await expectRefused(
                fixture, request(effectiveAtMs: AccountFixture.start - 5 * minuteMs - 1),
                "The effective time lies in the past; choose now or later.")
            try await expectRefused(
                fixture, request(effectiveAtMs: AccountFixture.start + 30 * dayMs + 1), "The effective time lies more than 30 days ahead.")
            // Within the skew, but over before now: it was never on test (it used to be answered OK, as expired).
            try await expectRefused(
                fixture, request(hours: 0, minutes: 4, effectiveAtMs: AccountFixture.start - 4 * minuteMs - 30_000),
                "A test of 4 minutes from an effective time 270 seconds before the server's clock would have ended already; "
                    + "choose a later effective time or a longer duration.")
            try await expectRefused(
                fixture, request(hours: 0, minutes: 4, effectiveAtMs: AccountFixture.start - 4 * minuteMs),
                "A test of 4 minutes from an effective time 240 seconds before the server's clock would have ended already; "
                    + "choose a later effective time or a longer duration.")
            #expect(try await status(fixture) == TestStatus(state: .offTest))
            #expect(try await fixture.history() == [], "refused placements leave no history")

            // The longest allowed test, and the skew.
            let longest = try await fixture.placeOnTest(hours: 24, effectiveAtMs: AccountFixture.start - 2 * minuteMs)
            #expect(longest.state == .active)
            #expect(longest.effectiveAtMs == AccountFixture.start - 2 * minuteMs)
            #expect(longest.expiresAtMs == AccountFixture.start - 2 * minuteMs + 24 * hourMs)
        }
    }

    /// No duration (0 hours, 0 minutes) is the category's default duration, checked against the maximum as a given one.
    @Test(arguments: StoreKind.all) func noDurationIsTheCategorysDefault(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumTestMinutes = 3 * 60
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkProvoCustomer(fixture)
            let categories = try await fixture.client.listTestCategories(ListTestCategoriesRequest()).categories
            let service = try #require(categories.first { $0.id == "service" })
            let session = try await fixture.placeOnTest(hours: 0)
            #expect(session.expiresAtMs == AccountFixture.start + Int64(service.defaultDurationMinutes) * minuteMs)
            _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            #expect(categories.first { $0.id == "construction" }?.defaultDurationMinutes == UInt32(24 * 60))
            try await expectRefused(
                fixture, request(hours: 0, category: "construction"),
                "Category 'construction' lasts 24 hours by default, longer than the maximum of 3 hours; give a shorter duration.")
        }
    }

    @Test(arguments: StoreKind.all) func listedZonesMayBeCentralStationZonesOrEquipmentZones(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            _ = try await fixture.client.setCentralStationZones(
                SetCentralStationZonesRequest(
                    customerID: "cust-1", zones: [Zone(zoneNumber: "010", description: "Panic button", eventType: .panic)]))
            let session = try await fixture.placeOnTest(scope: .onlyListed, zones: ["010", "004"])
            #expect(session.zoneNumbers == ["010", "004"])
            #expect(try await status(fixture).current?.zoneNumbers == ["010", "004"])
        }
    }

    @Test(arguments: StoreKind.all) func aConfiguredMaximumOf48HoursAccepts30Hours(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumTestMinutes = 48 * 60
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkProvoCustomer(fixture)
            let session = try await fixture.placeOnTest(hours: 30)
            #expect(session.expiresAtMs == AccountFixture.start + 30 * hourMs)
            _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            try await expectRefused(fixture, request(hours: 49), "A test of 49 hours is longer than the maximum of 48 hours.")
        }
    }

    @Test(arguments: StoreKind.all) func theHardCapOf30DaysWinsOverTheConfiguration(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.maximumTestMinutes = 40 * 24 * 60
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkProvoCustomer(fixture)
            try await expectRefused(fixture, request(hours: 31 * 24), "A test of 744 hours is longer than the maximum of 720 hours.")
            try await expectRefused(
                fixture, request(hours: 30 * 24, minutes: 1), "A test of 720 hours 1 minute is longer than the maximum of 720 hours.")
            let session = try await fixture.placeOnTest(hours: 30 * 24)
            #expect(session.expiresAtMs == AccountFixture.start + 30 * dayMs)
        }
    }

    @Test(arguments: StoreKind.all) func placeOffTestEndsIt(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let session = try await fixture.placeOnTest(hours: 2)
            fixture.clock.advance(byMs: 10 * minuteMs)
            let off = try await fixture.client.placeOffTest(
                PlaceOffTestRequest(
                    customerID: "cust-1", placedBy: UserRef(id: "tech-7", name: "Tess Tech"), comment: "Done"))
            var ended = session
            ended.state = .ended
            ended.endReason = .placedOff
            ended.endedAtMs = AccountFixture.start + 10 * minuteMs
            #expect(off.session == ended)
            #expect(try await status(fixture) == TestStatus(state: .offTest))
            #expect(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")).testStatus == TestStatus(state: .offTest))
            #expect(try await fixture.openSession() == nil)
            let history = try await fixture.history()
            #expect(history.map(\.action) == [.placedOnTest, .placedOffTest])
            #expect(
                history.last
                    == TestHistoryEntry(
                        atMs: AccountFixture.start + 10 * minuteMs, action: .placedOffTest, sessionID: session.id, category: Self.service,
                        effectiveAtMs: session.effectiveAtMs, expiresAtMs: session.expiresAtMs,
                        user: UserRef(id: "tech-7", name: "Tess Tech"),
                        comment: "Done"))
            // A new test may be placed now.
            #expect(try await fixture.placeOnTest().state == .active)
        }
    }

    @Test(arguments: StoreKind.all) func placeOffTestWhenNotOnTestIsRefused(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let never = await expectRPCError(.failedPrecondition) {
                _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            }
            #expect(never?.message == "System is not on test.")
            // Nor after the test has expired by itself.
            try await fixture.placeOnTest(hours: 1)
            fixture.clock.advance(byMs: hourMs)
            let expired = await expectRPCError(.failedPrecondition) {
                _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            }
            #expect(expired?.message == "System is not on test.")
            #expect(try await fixture.history().map(\.action) == [.placedOnTest, .expired])
            await expectRPCError(.notFound) { _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "nobody")) }
        }
    }

    @Test(arguments: StoreKind.all) func aScheduledTestCanBePlacedOffBeforeItStarts(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            try await fixture.placeOnTest(effectiveAtMs: AccountFixture.start + hourMs)
            let off = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
            #expect(off.session?.state == .ended)
            #expect(try await status(fixture) == TestStatus(state: .offTest))
            #expect(try await fixture.placeOnTest().state == .active)
        }
    }
}
