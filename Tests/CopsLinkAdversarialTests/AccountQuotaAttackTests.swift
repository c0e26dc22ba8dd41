import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import Testing

/// Issue 10, class 7: account-number generation could loop for ever. Numbers are unique across dealers and one
/// dealer could fill the generated space; then any dealer's `LinkAccount` without a number spun inside the write
/// transaction and every write stopped. A per-dealer quota bounds what one dealer can take.
extension AdversarialTests {
    @Test("7: a dealer at its account quota gets RESOURCE_EXHAUSTED at once, however often it tries; other dealers' writes go on")
    func accountQuota() async throws {
        let server = try await AttackServer.start(["--max-accounts-per-dealer", "5"])
        defer { server.stop() }
        let attackerKey = try await server.createKey(dealer: "mallory", roles: "read,write")
        let otherKey = try await server.createKey(dealer: "acme", roles: "read,write")

        // The demo dealer already holds four accounts: its honest client toggles tests but links none.
        try await server.withAttack("7-account-quota", growthBound: 24 * mebibyte, honestLinks: false) {
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) {
                transport in
                let attacker = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: attackerKey))
                let other = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: otherKey))
                let options = CallOptions(timeout: .seconds(10))
                @Sendable func link(_ client: AccountService.Client, _ id: String) async throws -> LinkAccountResponse {
                    try await client.linkAccount(
                        LinkAccountRequest(customer: Customer(id: id, lastName: "Quota", address: Address(zip: "84601"))), options: options)
                }

                for index in 1...5 { _ = try await link(attacker, "mallory-\(index)") }
                let refusal = await expectRPCError(.resourceExhausted) { _ = try await link(attacker, "mallory-6") }
                #expect(
                    refusal.map { $0.message.contains("5") && names($0.message, "account") } ?? false,
                    "the quota is named: \(String(describing: refusal))")
                #expect((refusal?.message.utf8.count ?? 0) <= 256)

                // The attacker keeps trying from four tasks while the other dealer links its accounts.
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: [StatusCode].self) { group in
                    for task in 0..<4 {
                        group.addTask {
                            var codes: [StatusCode] = []
                            for attempt in 0..<50 {
                                do {
                                    _ = try await link(attacker, "mallory-\(task)-\(attempt)")
                                    codes.append(.ok)
                                } catch let error as RPCError {
                                    codes.append(error.code)
                                }
                            }
                            return codes
                        }
                    }
                    group.addTask {
                        for index in 1...5 {
                            let response = try await link(other, "acme-\(index)")
                            #expect(response.created && !(response.account?.accountNumber.isEmpty ?? true))
                        }
                        return []
                    }
                    for try await codes in group {
                        #expect(codes.allSatisfy { $0 == .resourceExhausted }, "every attempt over the quota: \(Set(codes.map(\.name)))")
                    }
                }
                print("[adversarial] 7-account-quota: 200 refused links and 5 other-dealer links took \(ContinuousClock.now - started)")
                await expectRPCError(.notFound) {
                    _ = try await attacker.getAccount(GetAccountRequest(customerID: "mallory-6"), options: options)
                }
                let linked = try await other.getAccount(GetAccountRequest(customerID: "acme-5"), options: options)
                #expect(!linked.accountNumber.isEmpty)
            }
        }
    }

    @Test(
        "7: a dealer's key that makes the server keep answers without end (a new request id each call) stops at its storage quota; other dealers' calls go on"
    )
    func storageQuota() async throws {
        // Ten times what the honest client (the demo dealer) stores while the attack runs.
        let quota = 1_000_000
        let server = try await AttackServer.start(["--max-stored-bytes-per-dealer", "\(quota)"])
        defer { server.stop() }
        let attackerKey = try await server.createKey(dealer: "mallory", roles: "read,write")
        let otherKey = try await server.createKey(dealer: "acme", roles: "read,write")

        try await server.withAttack("7-storage-quota", growthBound: 24 * mebibyte, honestLinks: false) {
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) {
                transport in
                let attacker = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: attackerKey))
                let other = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: otherKey))
                let options = CallOptions(timeout: .seconds(10))
                let equipment = (1...100).map {
                    Equipment(id: "eq-\($0)", name: String(repeating: "n", count: 100), zoneNumber: String(format: "%03d", $0))
                }
                for (client, id) in [(attacker, "mallory-1"), (other, "acme-1")] {
                    let customer = Customer(id: id, lastName: "Quota", address: Address(zip: "84601"), equipment: equipment)
                    _ = try await client.linkAccount(LinkAccountRequest(customer: customer), options: options)
                    _ = try await client.unlinkAccount(UnlinkAccountRequest(customerID: id), options: options)
                }

                // Unlinking an unlinked account answers the whole account; each new request id keeps that answer.
                @Sendable func unlink(_ client: AccountService.Client, _ id: String) async throws -> UnlinkAccountResponse {
                    try await client.unlinkAccount(UnlinkAccountRequest(requestID: UUID().uuidString, customerID: id), options: options)
                }
                let answer = try await unlink(attacker, "mallory-1").serializedBytes().count
                var kept = 1
                var refusal: RPCError?
                while refusal == nil, kept < 1000 {
                    do {
                        _ = try await unlink(attacker, "mallory-1")
                        kept += 1
                    } catch let error as RPCError {
                        refusal = error
                    }
                }
                #expect(refusal?.code == .resourceExhausted)
                #expect(refusal?.message.contains("dealer mallory stores") ?? false, "\(String(describing: refusal))")
                #expect(refusal?.message.contains("quota of \(quota) bytes") ?? false)
                // The count passes the quota with the call that reaches it, and stops there (the account counts too).
                #expect(kept >= 50 && kept * (answer + 100) < quota + answer + 100, "\(kept) answers of \(answer) bytes kept")
                for _ in 0..<20 { await expectRPCError(.resourceExhausted) { _ = try await unlink(attacker, "mallory-1") } }

                // The attacker can still read and call without a request id; the other dealer is not touched.
                _ = try await attacker.getAccount(GetAccountRequest(customerID: "mallory-1"), options: options)
                _ = try await attacker.unlinkAccount(UnlinkAccountRequest(customerID: "mallory-1"), options: options)
                for _ in 0..<5 { _ = try await unlink(other, "acme-1") }
                print("[adversarial] 7-storage-quota: \(kept) answers of \(answer) bytes kept, then refused")
            }
        }
    }
}
