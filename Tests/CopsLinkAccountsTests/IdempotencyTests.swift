import CopsLinkAccounts
import CopsLinkCore
import CopsLinkInProcess
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import Testing

/// A retry with the same request id returns the first answer and changes nothing more; the same id with other
/// parameters is refused.
@Suite("Idempotent retries")
struct IdempotencyTests {
    func place(
        _ fixture: AccountFixture, requestID: String = "", hours: UInt32 = 1, options: CallOptions = .defaults
    ) async throws -> PlaceOnTestResponse {
        try await fixture.client.placeOnTest(
            PlaceOnTestRequest(requestID: requestID, customerID: "cust-1", categoryID: "service", durationHours: hours), options: options)
    }

    func placedOnTestCount(_ fixture: AccountFixture) async throws -> Int {
        try await fixture.history().filter { $0.action == .placedOnTest }.count
    }

    @Test(arguments: StoreKind.all) func placeOnTestRetriedWithTheSameIDReturnsTheFirstSession(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            let first = try await place(fixture, requestID: id)
            fixture.clock.advance(byMs: minuteMs)
            let retry = try await place(fixture, requestID: id)
            #expect(retry == first, "the same answer, session id included")
            #expect(try await placedOnTestCount(fixture) == 1)
            #expect(try await fixture.openSession()?.id == first.session?.id)
            // Request ids are UUIDs, which are case-insensitive.
            #expect(try await place(fixture, requestID: id.uppercased()) == first)
            // Without the id, the same request is a new placement, refused while on test.
            await expectRPCError(.failedPrecondition) { _ = try await place(fixture) }
        }
    }

    @Test(arguments: StoreKind.all) func theSameIDWithOtherParametersIsRefused(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            let first = try await place(fixture, requestID: id, hours: 1)
            let other = await expectRPCError(.alreadyExists) { _ = try await place(fixture, requestID: id, hours: 2) }
            #expect(other?.message == "Request id \(id) was already used for a different request.")
            // Nor for another method.
            await expectRPCError(.alreadyExists) {
                _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(requestID: id, customerID: "cust-1"))
            }
            #expect(try await fixture.openSession()?.id == first.session?.id)
            #expect(try await placedOnTestCount(fixture) == 1)
        }
    }

    @Test(arguments: StoreKind.all) func aRequestIDMustBeAUUID(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            for bad in ["retry-1", "1234", "123e4567-e89b-12d3-a456-42661417400g", "123e4567e89b12d3a456426614174000"] {
                let error = await expectRPCError(.invalidArgument) { _ = try await place(fixture, requestID: bad) }
                #expect(error?.message == "The request id '\(bad)' must be a UUID (8-4-4-4-12 hexadecimal digits).")
                await expectRPCError(.invalidArgument) { _ = try await place(fixture, options: CallOptions(requestID: bad)) }
            }
            #expect(try await fixture.openSession() == nil)
        }
    }

    @Test(arguments: StoreKind.all) func theRequestIDMayComeAsMetadata(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            let first = try await place(fixture, options: CallOptions(requestID: id))
            #expect(try await place(fixture, options: CallOptions(requestID: id)) == first)
            #expect(try await place(fixture, requestID: id) == first, "the field and the metadata name the same request id")
            await expectRPCError(.alreadyExists) { _ = try await place(fixture, hours: 3, options: CallOptions(requestID: id)) }
            #expect(try await placedOnTestCount(fixture) == 1)
            // The field and the metadata naming different ids: refused, not the field's answer replayed.
            let other = newRequestID()
            let differ = await expectRPCError(.invalidArgument) {
                _ = try await place(fixture, requestID: id, options: CallOptions(requestID: other))
            }
            #expect(
                differ?.message
                    == "The request_id field '\(id)' and the copslink-request-id metadata '\(other)' differ; send the id once, or the same in both."
            )
            #expect(try await place(fixture, requestID: id, options: CallOptions(requestID: id.uppercased())) == first, "case aside")
            // Two different ids in the metadata (a key may repeat): refused too, whichever would have been read.
            var twice = CallOptions()
            twice.metadata.add(Metadata.requestIDKey, id)
            twice.metadata.add(Metadata.requestIDKey, other)
            let two = await expectRPCError(.invalidArgument) { _ = try await place(fixture, options: twice) }
            #expect(two?.message == "The copslink-request-id metadata names two ids, '\(id)' and '\(other)'; send one.")
        }
    }

    @Test(arguments: StoreKind.all) func placeOffTestRetriedAfterSuccessIsANoOp(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            try await fixture.placeOnTest()
            fixture.clock.advance(byMs: 5 * minuteMs)
            let id = newRequestID()
            let first = try await fixture.client.placeOffTest(PlaceOffTestRequest(requestID: id, customerID: "cust-1"))
            fixture.clock.advance(byMs: minuteMs)
            let retry = try await fixture.client.placeOffTest(PlaceOffTestRequest(requestID: id, customerID: "cust-1"))
            #expect(retry == first)
            #expect(try await fixture.history().map(\.action) == [.placedOnTest, .placedOffTest])
            // A different id is a new request: not on test any more.
            let error = await expectRPCError(.failedPrecondition) {
                _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(requestID: newRequestID(), customerID: "cust-1"))
            }
            #expect(error?.message == "System is not on test.")
        }
    }

    @Test(arguments: StoreKind.all) func linkAccountRetriedReturnsTheSameAccountNumber(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let (customer, parties) = provoCustomer()
            let request = LinkAccountRequest(requestID: newRequestID(), customer: customer, respondingParties: parties)
            let first = try await fixture.client.linkAccount(request)
            fixture.clock.advance(byMs: minuteMs)
            let retry = try await fixture.client.linkAccount(request)
            #expect(retry == first)
            #expect(retry.created && first.created)
            let number = try #require(first.account?.accountNumber)
            #expect(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")).accountNumber == number)
            // Without the id, linking again is refused: the retry above really was answered from the first call.
            await expectRPCError(.alreadyExists) { _ = try await fixture.client.linkAccount(LinkAccountRequest(customer: customer)) }
        }
    }

    @Test(arguments: StoreKind.all) func addAccountAuthoritiesRetriedAddsNothingMore(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let request = AddAccountAuthoritiesRequest(
                requestID: newRequestID(), customerID: "cust-1",
                authorities: [AuthorityToAdd(authorityID: "ut-provo-fd"), AuthorityToAdd(authorityID: "ut-provo-ems")])
            let first = try await fixture.client.addAccountAuthorities(request)
            let retry = try await fixture.client.addAccountAuthorities(request)
            #expect(retry == first)
            let listed = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")).authorities
            #expect(Set(listed) == Set(first.added))
            #expect(listed.count == 2)
        }
    }

    /// A client that retries later (after a timeout and a backoff) must get the first answer, even though the
    /// request would now be refused as new: its explicit effective time has fallen out of the allowed skew.
    @Test(arguments: StoreKind.all) func aLateRetryWithAnExplicitEffectiveTimeGetsTheFirstAnswer(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let request = PlaceOnTestRequest(
                requestID: newRequestID(), customerID: "cust-1", categoryID: "service", durationHours: 1,
                effectiveAtMs: AccountFixture.start)
            let first = try await fixture.client.placeOnTest(request)
            fixture.clock.advance(byMs: 6 * minuteMs)
            let retry = try await fixture.client.placeOnTest(request)
            #expect(retry == first)
            #expect(try await placedOnTestCount(fixture) == 1)
        }
    }

    // MARK: The replay mark

    /// `PlaceOnTest` through `client`, with the response's trailers.
    func placeWithTrailers(
        _ client: RPCClient, requestID: String, options: CallOptions = .defaults
    ) async throws -> ClientResponse<PlaceOnTestResponse> {
        try await client.unary(
            AccountService.Method.placeOnTest,
            request: PlaceOnTestRequest(requestID: requestID, customerID: "cust-1", categoryID: "service", durationHours: 1),
            as: PlaceOnTestResponse.self, options: options)
    }

    @Test(arguments: StoreKind.all) func aReplayCarriesTheReplayedTrailerAndTheFirstAnswerDoesNot(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let id = newRequestID()
            let first = try await placeWithTrailers(fixture.client.client, requestID: id)
            #expect(!first.isReplay)
            #expect(first.trailers[Metadata.replayedKey].isEmpty)
            let retry = try await placeWithTrailers(fixture.client.client, requestID: id)
            #expect(retry.isReplay)
            #expect(retry.trailers[Metadata.replayedKey] == [.text("true")], "exactly one copslink-replayed: true")
            #expect(retry.message == first.message)
            // The metadata form of the request id replays as well.
            #expect(try await placeWithTrailers(fixture.client.client, requestID: "", options: CallOptions(requestID: id)).isReplay)
            // A new request, with another id or none, is no replay.
            let off = try await fixture.client.client.unary(
                AccountService.Method.placeOffTest, request: PlaceOffTestRequest(requestID: newRequestID(), customerID: "cust-1"),
                as: PlaceOffTestResponse.self)
            #expect(!off.isReplay)
            let unmarked = try await fixture.client.client.unary(
                AccountService.Method.placeOnTest,
                request: PlaceOnTestRequest(customerID: "cust-1", categoryID: "service", durationHours: 1), as: PlaceOnTestResponse.self)
            #expect(!unmarked.isReplay)
        }
    }

    /// The same through the in-process transport: the mark is made by the service and the router, not by a
    /// transport.
    @Test func aReplayIsMarkedInProcess() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteAccountStore(path: path)
        var router = RPCRouter()
        AccountServiceImplementation(store: store, clock: ManualAccountClock(nowMs: AccountFixture.start)).registerMethods(with: &router)
        let client = RPCClient(transport: InProcessTransport(router: router))
        let (customer, parties) = provoCustomer()
        let link = LinkAccountRequest(requestID: newRequestID(), customer: customer, respondingParties: parties)
        let first = try await client.unary(AccountService.Method.linkAccount, request: link, as: LinkAccountResponse.self)
        #expect(!first.isReplay && first.message.created)
        let retry = try await client.unary(AccountService.Method.linkAccount, request: link, as: LinkAccountResponse.self)
        #expect(retry.isReplay)
        #expect(retry.message == first.message)
    }
}
