import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
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
        let writer = try await server.createKey(dealer: "demo", roles: "write")

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

            // A new connection's first call, keyed and larger than the 16 KiB a connection without an authenticated
            // caller may hold while such connections hold their share: the Swift client sends its REQUEST (and key)
            // ahead of the request, so the server authenticates the caller and then reads the request as trusted.
            // Sent inside its REQUEST, it waited for a key that was inside it, until the frame-read timeout.
            var configuration = ClientConfiguration.forTesting(port: server.port)
            configuration.connectTimeout = .seconds(5)
            let transport = TCPClientTransport(configuration: configuration)
            let accounts = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: writer))
            let equipment = (0..<900).map {
                Equipment(
                    id: "eq-\($0)", name: "Sensor \($0) on the ground floor, by the door to the garden and the garage",
                    zoneNumber: String(1000 + $0 + 1).dropFirst().description)
            }
            let large = LinkAccountRequest(
                customer: Customer(id: "large-first", lastName: "Large", address: Address(zip: "84601"), equipment: equipment))
            #expect(large.serializedBytes().count > 64 << 10)
            let linked = try await accounts.linkAccount(large, options: CallOptions(timeout: .seconds(4)))
            #expect(linked.account?.customer?.equipment.count == 900)
            await transport.close()

            // The same inside its REQUEST, as a client in another language may send it: the server reads the key from
            // the REQUEST's header ahead of the rest of the frame, and a valid one has the frame read as trusted.
            let inline = try await AttackPeer.handshake(port: server.port)
            var inlineRequest = large
            inlineRequest.customer?.id = "large-first-inline"
            try await inline.send(AttackFrames.request(1, AccountService.Method.linkAccount, message: inlineRequest, token: writer))
            // Within 3 s: the partial frames end at their 5 s frame-read timeout, which would free the share anyway.
            let inlineEnd = try await inline.end(of: 1, limit: .seconds(3))
            #expect(inlineEnd.statusCode == 0, "a keyed call's large request inside its REQUEST during the attack: \(inlineEnd)")
            await inline.close()

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
