import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Logging
import Testing

@Suite("Passcodes stay secret")
struct PasscodeRedactionTests {
    static let secrets = ["secret-owl", "party-secret-1", "party-secret-2"]

    static func containsASecret(_ text: String) -> Bool { secrets.contains { text.contains($0) } }

    @Test func debugOutputOfCustomersPartiesAndRequestsRedactsPasscodes() {
        let (customer, parties) = provoCustomer()
        let request = LinkAccountRequest(customer: customer, respondingParties: parties)
        var dumped = ""
        dump(request, to: &dumped)
        for text in [
            "\(request)", String(describing: customer), String(reflecting: request), String(reflecting: parties), dumped,
            "\(SyncCustomerRequest(customer: customer, respondingParties: parties))"
        ] {
            #expect(!Self.containsASecret(text), "passcode shown in: \(text)")
            #expect(text.contains("<redacted>"))
        }
        // The value is intact; only its description hides it.
        #expect(customer.passcode == "secret-owl")
        #expect("\(Customer(id: "x"))".contains("passcode: \"\""))
    }

    /// The store logs into the same trace-level capture: neither its engine's log lines (postgres-nio's included)
    /// nor the call log may carry a passcode.
    @Test(arguments: StoreKind.all)
    func noReadErrorOrLogLineCarriesAPasscode(_ kind: StoreKind) async throws {
        let capture = CapturingLogHandler()
        var logger = Logger(label: "copslink.test") { _ in capture }
        logger.logLevel = .trace
        try await withTestStore(kind, logger: logger) { testStore in
            try await Self.callWithPasscodes(testStore.store, logger: logger, capture: capture)
        }
    }

    private static func callWithPasscodes(_ store: any AccountStore, logger: Logger, capture: CapturingLogHandler) async throws {
        var router = RPCRouter()
        AccountServiceImplementation(store: store).registerMethods(with: &router)
        try await TCPServer.withServer(
            configuration: ServerConfiguration(), router: router, interceptors: [LoggingInterceptor(logger: logger, level: .trace)],
            logger: logger
        ) { server in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port!)) {
                transport in
                let client = AccountService.Client(wrapping: RPCClient(transport: transport))
                let (customer, parties) = provoCustomer()
                let linked = try await client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
                let read = try await client.getAccount(GetAccountRequest(customerID: "cust-1"))
                let synced = try await client.syncCustomer(SyncCustomerRequest(customer: customer, respondingParties: parties))
                for answer in [linked.serializedBytes(), read.serializedBytes(), synced.serializedBytes()] {
                    #expect(!Self.containsASecret(String(decoding: answer, as: UTF8.self)))
                }
                // Failing calls that carry passcodes: their errors name no passcode.
                var invalid = customer
                invalid.address?.zip = "not a zip"
                let errors = [
                    await expectRPCError(.alreadyExists) {
                        _ = try await client.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
                    },
                    await expectRPCError(.invalidArgument) {
                        _ = try await client.linkAccount(LinkAccountRequest(customer: invalid, respondingParties: parties))
                    }
                ]
                for error in errors { #expect(!Self.containsASecret("\(String(describing: error))")) }
            }
        }
        let lines = capture.lines
        #expect(lines.count >= 5, "the trace-level call log must have run")
        for line in lines { #expect(!Self.containsASecret(line), "passcode logged: \(line)") }
        // The passcodes are stored, for the dealer's own use.
        let stored = try await store.read(.dealer(DealerID.demo)) { try $0.customer(id: "cust-1")?.passcode }
        #expect(stored == "secret-owl")
    }
}
