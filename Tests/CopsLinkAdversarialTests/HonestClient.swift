import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Testing

/// A well-behaved client on its own connection, with its own key, running while an attack goes on: it links new
/// accounts (optionally), reads an account, and places a demo account on test and off again. It records every
/// write the server acknowledged and every error it saw, so that the test can check afterwards that nothing
/// acknowledged was lost and that every error was one the attack's documentation allows.
final class HonestClient: Sendable {
    private let transport: TCPClientTransport
    private let accounts: AccountService.Client
    private let state = LockedBox(State())
    private let task: LockedBox<Task<Void, Never>?> = LockedBox(nil)
    private let prefix: String
    private let testCustomer: String

    struct State: Sendable {
        /// Customer id → account number, for every LinkAccount the server answered OK.
        var linked: [String: String] = [:]
        /// The test state the last acknowledged PlaceOnTest/PlaceOffTest left, nil if a later one may or may not
        /// have been applied (its answer was lost to an error).
        var onTest: Bool? = false
        var successes = 0
        var errors: [RPCError] = []
        var stopping = false
    }

    /// Connects to `port` with `token` (which needs read, write and test-control). With `links`, each round links a
    /// new customer `<prefix>-<n>`; `testCustomer` is toggled on and off test.
    init(port: Int, token: String, prefix: String, links: Bool = true, testCustomer: String = "demo-4") {
        var configuration = ClientConfiguration.forTesting(port: port)
        configuration.connectTimeout = .seconds(5)
        transport = TCPClientTransport(configuration: configuration)
        accounts = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: token))
        self.prefix = prefix
        self.testCustomer = testCustomer
        let work = Task { [self] in await run(links: links) }
        task.withLock { $0 = work }
    }

    var snapshot: State { state.value }

    private func run(links: Bool) async {
        var round = 0
        let options = CallOptions(timeout: .seconds(15))
        while !state.value.stopping {
            // Leave the two cores to the attack and the server: an honest client is not a load test.
            if round > 0 { try? await Task.sleep(for: .milliseconds(20)) }
            round += 1
            if links {
                let id = "\(prefix)-\(round)"
                await attempt {
                    let response = try await accounts.linkAccount(
                        LinkAccountRequest(customer: Customer(id: id, lastName: "Honest", address: Address(zip: "84601"))), options: options
                    )
                    state.withLock { $0.linked[id] = response.account?.accountNumber ?? "" }
                }
            }
            await attempt { _ = try await accounts.getAccount(GetAccountRequest(customerID: "demo-1"), options: options) }
            // Toggle from the state the last acknowledged call left; ask the server when an error left it unknown.
            var current = state.value.onTest
            if current == nil {
                await attempt {
                    current = try await accounts.getTestStatus(GetTestStatusRequest(customerID: testCustomer), options: options).onTest
                }
            }
            guard let current else { continue }
            state.withLock { $0.onTest = current }
            let placeOn = !current
            let acknowledged = await attempt {
                if placeOn {
                    _ = try await accounts.placeOnTest(
                        PlaceOnTestRequest(customerID: testCustomer, categoryID: "service", durationHours: 1), options: options)
                } else {
                    _ = try await accounts.placeOffTest(PlaceOffTestRequest(customerID: testCustomer), options: options)
                }
            }
            state.withLock { $0.onTest = acknowledged ? placeOn : nil }
        }
    }

    /// Runs one call; records its success or error. A call that failed is not acknowledged.
    @discardableResult
    private func attempt(_ body: () async throws -> Void) async -> Bool {
        do {
            try await body()
            state.withLock { $0.successes += 1 }
            return true
        } catch {
            let error = (error as? RPCError) ?? RPCError(code: .unknown, message: "\(error)")
            state.withLock { $0.errors.append(error) }
            return false
        }
    }

    /// Stops the loop (after its current call) and returns what it saw.
    func stop() async -> State {
        state.withLock { $0.stopping = true }
        await task.value?.value
        return state.value
    }

    /// Checks, on a new connection, that every acknowledged link is there with its account number and that the
    /// test account is in the state the last acknowledged toggle left it. Then closes the client.
    func verify(port: Int, token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let seen = state.value
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: port)) { transport in
            let accounts = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: token))
            for (id, number) in seen.linked {
                let account = try await accounts.getAccount(GetAccountRequest(customerID: id))
                #expect(
                    account.accountNumber == number, "acknowledged account \(id) must keep number \(number)", sourceLocation: sourceLocation
                )
            }
            if let onTest = seen.onTest {
                let status = try await accounts.getTestStatus(GetTestStatusRequest(customerID: testCustomer))
                #expect(
                    status.onTest == onTest, "the last acknowledged test toggle left \(testCustomer) on test: \(onTest)",
                    sourceLocation: sourceLocation)
            }
        }
        await transport.close()
    }
}
