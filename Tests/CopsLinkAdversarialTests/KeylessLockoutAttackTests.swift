import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore
import Testing

/// Clients without a key used to be able to stop a server with a handful of connections: each held most of a 4 MiB
/// native frame, together they spent the inbound budget, and then every new call and connection was refused. Their
/// bytes now count in the untrusted share (PROTOCOL.md §12.1), which cannot spend the budget.
extension AdversarialTests {
    @Test("keyless partial frames on many connections: the server still serves keyed calls and new connections")
    func keylessPartialFramesDoNotLockOut() async throws {
        // An 8 MiB budget (a 2 MiB untrusted share): 16 connections × 3.5 MiB would spend it seven times over.
        let server = try await AttackServer.start(["--max-inbound-memory", "\(8 * mebibyte)", "--frame-read-timeout", "5"])
        defer { server.stop() }
        let token = try await server.createKey(dealer: "demo", roles: "read")

        try await server.withAttack("keyless-lockout", growthBound: 48 * mebibyte) {
            var partials: [AttackPeer] = []
            for _ in 0..<16 { partials.append(try await AttackPeer.handshake(port: server.port)) }
            for peer in partials {
                peer.sendWithoutWaiting(AttackFrames.partialFrame(length: 4 * mebibyte, sending: 7 * mebibyte / 2))
            }
            try await Task.sleep(for: .milliseconds(500))

            // A new connection is served, keyed and keyless (a probe) alike.
            let probe = try await AttackPeer.handshake(port: server.port)
            try await probe.send(AttackFrames.request(1, Health.Method.check, message: HealthCheckRequest()))
            let check = try await probe.end(of: 1)
            #expect(check.statusCode == 0, "a health check during the attack: \(check)")
            try await probe.send(
                AttackFrames.request(3, AccountService.Method.getAccount, message: GetAccountRequest(customerID: "demo-1"), token: token))
            let keyed = try await probe.end(of: 3)
            #expect(keyed.statusCode == 0, "a keyed call during the attack: \(keyed)")
            await probe.close()

            // The partial frames end with the frame-read timeout; nothing else closed them.
            for peer in partials {
                let remainder = await peer.readToClose(limit: .seconds(10))
                #expect(remainder.closed, "a connection holding a partial frame is closed")
                #expect(remainder.goAway.map { names($0.message, "no complete frame") } ?? true, "\(remainder)")
                await peer.close()
            }
        }
    }
}
