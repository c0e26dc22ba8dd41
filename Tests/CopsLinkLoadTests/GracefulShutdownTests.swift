import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Testing

/// What the writers of the graceful-shutdown test saw.
struct DrainOutcomes: Sendable {
    var acknowledged: Set<String> = []
    var refused: Set<String> = []
    var other: [String] = []
}

/// SIGTERM while copslink-load keeps the server busy and writers link accounts: the server drains (GOAWAY,
/// in-flight calls finish), exits 0, and no call is lost — each one either succeeded, and its write is there after a
/// restart, or failed UNAVAILABLE, and its write is not. Part of the serialized end-to-end suite, so that no other
/// load run shares the cores with it.
extension EndToEndTests {
    @Test("SIGTERM during sustained load loses no accepted call; calls after GOAWAY fail UNAVAILABLE")
    func sigtermDuringLoad() async throws {
        try await LoadTestServer.with { server in
            let json = server.file("shutdown.json")
            let outcomes = LockedBox(DrainOutcomes())
            var configuration = ClientConfiguration.forTesting(port: server.port)
            configuration.connectTimeout = .seconds(2)
            let transport = TCPClientTransport(configuration: configuration)
            let client = AccountService.Client(wrapping: RPCClient(transport: transport))
            let writers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            for index in 0..<100_000 {
                                let id = "drain-\(writer)-\(index)"
                                do {
                                    _ = try await client.linkAccount(
                                        LinkAccountRequest(customer: Customer(id: id, lastName: "Drain", address: Address(zip: "84601"))),
                                        options: CallOptions(timeout: .seconds(30)))
                                    outcomes.withLock { _ = $0.acknowledged.insert(id) }
                                } catch let error as RPCError where error.code == .unavailable {
                                    outcomes.withLock { _ = $0.refused.insert(id) }
                                    return
                                } catch {
                                    outcomes.withLock { $0.other.append("\(id): \(error)") }
                                    return
                                }
                            }
                        }
                    }
                }
            }

            // Once the writers are well under way (a loaded machine may take a while to get there), copslink-load
            // adds sustained load; SIGTERM comes two seconds into its eight.
            for _ in 0..<600 where outcomes.value.acknowledged.count < 50 && outcomes.value.refused.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            }
            let load = Task {
                try await copslinkLoad([
                    "--server", server.address, "--duration", "8", "--warmup", "0", "--concurrency", "8", "--timeout", "5",
                    "--mix", "GetAccount=60,GetTestStatus=20,RequestTestData=20", "--json-out", json.path
                ])
            }
            try await Task.sleep(for: .seconds(2))
            let signalled = ContinuousClock.now
            server.server.process.terminate()  // SIGTERM
            try await offCooperativePool { server.server.process.waitUntilExit() }
            let drainTime = ContinuousClock.now - signalled
            #expect(server.server.process.terminationReason == .exit && server.server.process.terminationStatus == 0)
            #expect(drainTime < .seconds(10), "the server must finish within its grace period: \(drainTime)")

            await writers.value
            let result = try await load.value
            await transport.close()

            let seen = outcomes.value
            #expect(seen.other.isEmpty, "calls must end OK or UNAVAILABLE: \(seen.other.prefix(5))")
            #expect(seen.acknowledged.count >= 50, "the writers must have been running: \(seen.acknowledged.count)")
            #expect(seen.refused.count == 4, "each writer stops at its first UNAVAILABLE")

            let report = try jsonReport(at: json)
            let errors = try #require(report["errors_by_status"] as? [String: Int], "\(result)")
            #expect(Set(errors.keys) == ["UNAVAILABLE"], "after GOAWAY only UNAVAILABLE: \(errors)")
            #expect((report["total_calls"] as? Int ?? 0) > errors["UNAVAILABLE", default: 0], "\(report)")

            // Restart on the same file: every acknowledged write is there, and no refused one is.
            let restarted = try await ServerProcess.start(database: server.server.database)
            defer { restarted.stop() }
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: restarted.port)) {
                transport in
                let client = AccountService.Client(wrapping: RPCClient(transport: transport))
                for id in seen.acknowledged {
                    let account = try await client.getAccount(GetAccountRequest(customerID: id))
                    #expect(account.linkState == .linked, "\(id)")
                }
                for id in seen.refused {
                    await expectRPCError(.notFound) { _ = try await client.getAccount(GetAccountRequest(customerID: id)) }
                }
            }
        }
    }
}
