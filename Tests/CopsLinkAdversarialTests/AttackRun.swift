import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Testing

/// The checks every attack shares (issue 10, "What done looks like").
extension AttackServer {
    /// Runs `attack` with an honest client beside it and checks what the issue asks of every class:
    ///
    /// - the server's resident memory grows by less than `growthBound` bytes from just before the attack to its peak
    ///   during it (`RSSSampler`);
    /// - the process is alive, and answers Health and `GetAccount` on a new connection afterwards;
    /// - the honest client saw no error that `allowsHonestError` does not accept, made progress after the attack,
    ///   and everything it was acknowledged is still there.
    ///
    /// Checks about the attacking connections themselves (the documented status or GOAWAY) are the attack's own.
    /// Returns the measurement, which each test also prints for the record.
    @discardableResult
    func withAttack(
        _ name: String, growthBound: Int, honestLinks: Bool = true, honestToken: String? = nil,
        allowsHonestError: @escaping @Sendable (RPCError) -> Bool = { _ in false },
        sourceLocation: SourceLocation = #_sourceLocation,
        _ attack: () async throws -> Void
    ) async throws -> RSSSampler.Measurement {
        let honestToken = honestToken ?? demoToken
        let honest = HonestClient(port: port, token: honestToken, prefix: "honest-\(name)", links: honestLinks)
        try await waitFor("the honest client's first calls", sourceLocation: sourceLocation) { honest.snapshot.successes >= 3 }

        let sampler = RSSSampler(pid: pid)
        var attackError: (any Error)?
        do {
            try await attack()
        } catch {
            attackError = error
        }
        let measurement = await sampler.stop()
        print("[adversarial] \(name): \(measurement); bound \(RSSSampler.Measurement.mebibytes(growthBound))")
        guard isRunning else {
            _ = await honest.stop()
            Issue.record("the server process died during the attack: \(deathNotice())", sourceLocation: sourceLocation)
            throw attackError ?? RPCError(code: .unavailable, message: "the server died")
        }

        // The honest client must get through again once the attack is over.
        let successesAtEnd = honest.snapshot.successes
        try await waitFor("the honest client's progress after the attack", sourceLocation: sourceLocation) {
            honest.snapshot.successes > successesAtEnd + 2
        }
        let seen = await honest.stop()
        print(
            "[adversarial] \(name): the honest client made \(seen.successes) calls, linked \(seen.linked.count), "
                + "saw \(seen.errors.count) errors \(Set(seen.errors.map(\.code.name)).sorted())")

        #expect(
            measurement.growth < growthBound,
            "\(name): \(measurement), more than the bound of \(RSSSampler.Measurement.mebibytes(growthBound))",
            sourceLocation: sourceLocation)
        try await expectServing(sourceLocation: sourceLocation)
        let unexpected = seen.errors.filter { !allowsHonestError($0) }
        #expect(
            unexpected.isEmpty, "the honest client saw \(unexpected.count) undocumented errors: \(unexpected.prefix(3))",
            sourceLocation: sourceLocation)
        try await honest.verify(port: port, token: honestToken, sourceLocation: sourceLocation)
        if let attackError { throw attackError }
        return measurement
    }

    /// Throws (recording one issue) if the server process has died, so that an attack stops at the first crash
    /// instead of reporting every later call as UNAVAILABLE.
    func requireRunning(sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard isRunning else {
            Issue.record("the server process died: \(deathNotice())", sourceLocation: sourceLocation)
            throw RPCError(code: .unavailable, message: "the server died")
        }
    }

    /// How the process ended and the end of its log.
    func deathNotice() -> String {
        let process = server.process
        let how =
            process.isRunning
            ? "running" : "\(process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(process.terminationStatus)"
        let lines = log().split(separator: "\n")
        let fatal = lines.filter { $0.contains("Fatal error") || $0.contains("Crash") }
        return "\(how); log:\n" + (fatal.isEmpty ? lines.suffix(5) : fatal.prefix(5)).joined(separator: "\n")
    }

    /// The server answers Health (SERVING) and `GetAccount` on a new connection.
    func expectServing(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var configuration = ClientConfiguration.forTesting(port: port)
        configuration.connectTimeout = .seconds(5)
        try await TCPClientTransport.withTransport(configuration: configuration) { transport in
            let options = CallOptions(timeout: .seconds(10))
            let health = try await Health.Client(wrapping: RPCClient(transport: transport)).check(options: options)
            #expect(health.status == .serving, sourceLocation: sourceLocation)
            let accounts = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: demoToken))
            let account = try await accounts.getAccount(GetAccountRequest(customerID: "demo-1"), options: options)
            #expect(account.accountNumber == "22-8761", sourceLocation: sourceLocation)
        }
    }
}

/// Polls `condition` every 20 ms for up to `limit`; records an issue and throws if it never holds.
func waitFor(
    _ what: String, limit: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
            throw RPCError(code: .deadlineExceeded, message: "timed out waiting for \(what)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Whether `message` names `field`, however it is spelled: `last_name`, `lastName` and "last name" all count.
func names(_ message: String, _ field: String) -> Bool {
    func squeezed(_ text: String) -> String { text.lowercased().filter { $0.isLetter || $0.isNumber } }
    return squeezed(message).contains(squeezed(field))
}

/// Sizes in bytes.
let kibibyte = 1 << 10
let mebibyte = 1 << 20
