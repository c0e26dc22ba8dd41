import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Testing

/// Issue 10, class 5: strings and lists in messages were unbounded: names, company, address lines, passcodes,
/// phones, ids; responding parties, phones per party, equipment, zones, authorities per request, signals.
extension AdversarialTests {
    /// One oversized request: what it sends, and the field its INVALID_ARGUMENT must name.
    struct Oversized: Sendable {
        var field: String
        var call: @Sendable (AccountService.Client, CallOptions) async throws -> Void
    }

    static let megabyteText = String(repeating: "m", count: mebibyte)

    static func link(
        _ customer: Customer, parties: [RespondingParty] = []
    ) -> @Sendable (AccountService.Client, CallOptions) async throws -> Void {
        { client, options in
            _ = try await client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties), options: options)
        }
    }

    static let oversized: [Oversized] = [
        Oversized(field: "last_name", call: link(Customer(id: "huge-1", lastName: megabyteText))),
        Oversized(field: "first_name", call: link(Customer(id: "huge-2", firstName: megabyteText, lastName: "x"))),
        Oversized(field: "company_name", call: link(Customer(id: "huge-3", companyName: megabyteText))),
        Oversized(field: "street1", call: link(Customer(id: "huge-4", lastName: "x", address: Address(street1: megabyteText)))),
        Oversized(field: "city", call: link(Customer(id: "huge-5", lastName: "x", address: Address(city: megabyteText)))),
        Oversized(field: "passcode", call: link(Customer(id: "huge-6", lastName: "x", passcode: megabyteText))),
        Oversized(field: "premise_phone", call: link(Customer(id: "huge-7", lastName: "x", premisePhone: megabyteText))),
        Oversized(
            field: "responding_parties",
            call: link(Customer(id: "huge-8", lastName: "x"), parties: (0..<100_000).map { RespondingParty(id: "p\($0)", lastName: "p") })),
        Oversized(
            field: "phones",
            call: link(
                Customer(id: "huge-9", lastName: "x"),
                parties: [RespondingParty(id: "p", lastName: "p", phones: (0..<100_000).map { _ in Phone(number: "8015550100") })])),
        Oversized(
            field: "equipment",
            call: link(Customer(id: "huge-10", lastName: "x", equipment: (0..<100_000).map { Equipment(id: "e\($0)") }))),
        Oversized(field: "comment") { client, options in
            _ = try await client.placeOnTest(
                PlaceOnTestRequest(customerID: "demo-1", categoryID: "service", durationHours: 1, comment: megabyteText), options: options)
        },
        Oversized(field: "zone_numbers") { client, options in
            _ = try await client.placeOnTest(
                PlaceOnTestRequest(
                    customerID: "demo-1", categoryID: "service", durationHours: 1, scope: .onlyListed,
                    zoneNumbers: (0..<100_000).map { _ in "001" }), options: options)
        },
        Oversized(field: "zones") { client, options in
            _ = try await client.setCentralStationZones(
                SetCentralStationZonesRequest(customerID: "demo-1", zones: (0..<100_000).map { _ in Zone(zoneNumber: "001") }),
                options: options)
        },
        Oversized(field: "authorities") { client, options in
            _ = try await client.addAccountAuthorities(
                AddAccountAuthoritiesRequest(
                    customerID: "demo-1", authorities: (0..<100_000).map { _ in AuthorityToAdd(authorityID: "x") }),
                options: options)
        }
    ]

    @Test(
        "5: megabyte strings and 100,000-element lists are INVALID_ARGUMENT naming the field (or the decode bound), nothing is stored; ReportSignals keeps few, short rejections"
    )
    func unboundedFields() async throws {
        let server = try await AttackServer.start()
        defer { server.stop() }

        try await server.withAttack("5-unbounded-fields", growthBound: 48 * mebibyte) {
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) {
                transport in
                let client = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: server.demoToken))
                let options = CallOptions(timeout: .seconds(20))
                for (index, request) in Self.oversized.enumerated() {
                    let error = await expectRPCError(.invalidArgument) { try await request.call(client, options) }
                    if let error {
                        // A list of tiny entries this long is refused by the decode memory bound before the field
                        // limits see it (PROTOCOL.md §12): that message names the bound instead of the field.
                        let decodeBound = error.message.contains("bytes of memory (at most 4 × its size")
                        #expect(
                            names(error.message, request.field) || decodeBound,
                            "INVALID_ARGUMENT must name \(request.field): \(error.message.prefix(300))")
                        #expect(
                            error.message.utf8.count <= 256,
                            "\(request.field): a short status message, not \(error.message.utf8.count) bytes")
                    }
                    // Rejected before anything is stored.
                    if index < 10 {
                        await expectRPCError(.notFound) {
                            _ = try await client.getAccount(GetAccountRequest(customerID: "huge-\(index + 1)"), options: options)
                        }
                    }
                }
                let account = try await client.getAccount(GetAccountRequest(customerID: "demo-1"), options: options)
                #expect(
                    account.testStatus?.onTest != true && account.mappedZones.count + account.unmappedZones.count < 100,
                    "demo-1 is unchanged")

                // 5,000 signals that are each rejected (unknown account numbers of 200 bytes).
                let signals = (0..<5_000).map { index in
                    Signal(
                        receiverNumber: "1", line: "1", accountNumber: "unknown-\(index)-" + String(repeating: "a", count: 200),
                        eventCode: "130")
                }
                do {
                    let response = try await client.reportSignals(Messages(signals), options: options)
                    #expect(response.rejected.count <= 1_000, "a bounded number of rejections: \(response.rejected.count)")
                    #expect(
                        response.rejected.allSatisfy { $0.reason.utf8.count <= 256 },
                        "short reasons: \(response.rejected.map(\.reason.utf8.count).max() ?? 0)")
                } catch let error as RPCError {
                    // A stream over the limit of signals per call.
                    #expect(error.code == .invalidArgument && names(error.message, "signals"), "\(error)")
                    #expect(error.message.utf8.count <= 256)
                }
            }
        }
    }
}
