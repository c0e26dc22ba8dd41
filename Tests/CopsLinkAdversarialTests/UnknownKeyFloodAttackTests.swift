import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import Foundation
import NIOCore
import Testing

/// Issue 10, class 8: failed authentication was free. Every unknown key id cost a store read, misses were cached
/// without bound, and a client could guess keys on one connection for ever.
extension AdversarialTests {
    /// A well-formed key that no server issued: `clk_<16 hex>_<64 hex>`, distinct per `number`.
    static func unknownKey(_ number: Int) -> String {
        let id = String(format: "%016llx", UInt64(number) &* 0x9E37_79B9_7F4A_7C15)
        return "clk_\(id)_" + String(repeating: "ab", count: 32)
    }

    @Test(
        "8: after 3 UNAUTHENTICATED calls a connection gets GOAWAY ENHANCE_YOUR_CALM; thousands of unknown keys across reconnects keep memory bounded"
    )
    func unknownKeyFlood() async throws {
        let server = try await AttackServer.start()
        defer { server.stop() }

        try await server.withAttack("8-unknown-keys", growthBound: 24 * mebibyte) {
            // One connection pipelines five calls with unknown keys: three are answered UNAUTHENTICATED, then the
            // GOAWAY; a call received before it whose key is checked later gets no verdict, only UNAVAILABLE.
            let first = try await AttackPeer.handshake(port: server.port)
            var buffer = ByteBuffer()
            for id in UInt64(1)...5 {
                AttackFrames.request(
                    id, AccountService.Method.getAccount.path, message: GetAccountRequest(customerID: "demo-1"),
                    token: Self.unknownKey(Int(id)),
                    into: &buffer)
            }
            try await first.send(buffer)
            let remainder = await first.readToClose()
            let verdicts = remainder.ends.values.filter { $0.statusCode == StatusCode.unauthenticated.rawValue }.count
            let refused = remainder.ends.values.filter { $0.statusCode == StatusCode.unavailable.rawValue }.count
            #expect(verdicts == 3 && verdicts + refused == remainder.ends.count, "\(remainder.ends)")
            #expect(
                remainder.goAway?.code == .enhanceYourCalm && names(remainder.goAway?.message ?? "", "unauthenticated calls"),
                "\(String(describing: remainder.goAway))")
            #expect(remainder.closed)
            await first.close()

            // Then 1,500 connections from 4 tasks, three distinct unknown keys each.
            let started = ContinuousClock.now
            let outcomes = try await withThrowingTaskGroup(of: (goAways: Int, ends: Int).self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var goAways = 0, ends = 0
                        for connection in 0..<375 {
                            let peer = try await AttackPeer.handshake(port: server.port)
                            var buffer = ByteBuffer()
                            for call in 1...3 {
                                let key = Self.unknownKey(10 + (task * 375 + connection) * 3 + call)
                                AttackFrames.request(
                                    UInt64(call), AccountService.Method.getAccount.path, message: GetAccountRequest(customerID: "demo-1"),
                                    token: key, into: &buffer)
                            }
                            try await peer.send(buffer)
                            let remainder = await peer.readToClose(limit: .seconds(5))
                            ends += remainder.ends.values.filter { $0.statusCode == StatusCode.unauthenticated.rawValue }.count
                            await peer.close()
                            // A server that keeps the connection open would make every round wait: stop at the first.
                            guard remainder.goAway?.code == .enhanceYourCalm else { break }
                            goAways += 1
                        }
                        return (goAways, ends)
                    }
                }
                var total = (goAways: 0, ends: 0)
                for try await outcome in group {
                    total.goAways += outcome.goAways
                    total.ends += outcome.ends
                }
                return total
            }
            print("[adversarial] 8-unknown-keys: 1,500 connections, 4,500 unknown keys in \(ContinuousClock.now - started)")
            #expect(outcomes.ends == 4_500, "every call is answered UNAUTHENTICATED")
            #expect(outcomes.goAways == 1_500, "every connection gets GOAWAY ENHANCE_YOUR_CALM after its third")
        }
    }
}
