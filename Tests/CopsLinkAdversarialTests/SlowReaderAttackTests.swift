import CopsLinkCodecs
import CopsLinkCore
import CopsLinkServices
import CopsLinkTransport
import Foundation
import NIOCore
import Testing

/// Issue 10, class 2: the server's outbound side has no backpressure. A client that pipelines requests and never
/// reads made the server queue every answer: hundreds of MB with no key (`ServerInfo/Describe`), about 1 GB with a
/// key and a large account.
extension AdversarialTests {
    @Test("2: clients that pipeline Describe (no key) and GetAccount on a large account and never read: memory bounded, GOAWAY ENHANCE_YOUR_CALM")
    func slowReaders() async throws {
        // A short unwritable timeout, so that the GOAWAY comes within the test's time.
        let server = try await AttackServer.start(["--unwritable-timeout", "2"])
        defer { server.stop() }
        let large = try await Self.linkLargeAccount(on: server)
        print("[adversarial] 2-slow-reader: GetAccount answers \(large) bytes")

        try await server.withAttack("2-slow-reader", growthBound: 48 * mebibyte) {
            // Without backpressure: 40,000 Describe answers (~1.5 KB each) plus 8,000 large accounts would be
            // hundreds of MB queued in the server.
            let describe = try await AttackPeer.handshake(port: server.port, receiveBuffer: 16 * kibibyte)
            let accounts = try await AttackPeer.handshake(port: server.port, receiveBuffer: 16 * kibibyte)
            try await describe.setReading(false)
            try await accounts.setReading(false)
            var pipelined = ByteBuffer()
            for id in 1...UInt64(40_000) {
                AttackFrames.request(id, ServerInfo.Method.describe.path, message: ServerInfoRequest(), into: &pipelined)
            }
            describe.sendWithoutWaiting(pipelined)
            pipelined.clear()
            for id in 1...UInt64(8_000) {
                AttackFrames.request(
                    id, AccountService.Method.getAccount.path, message: GetAccountRequest(customerID: "large-1"), token: server.demoToken,
                    into: &pipelined)
            }
            accounts.sendWithoutWaiting(pipelined)

            // The server stops reading both once their answers pass the high-water mark, and closes them 2 s later.
            try await Task.sleep(for: .seconds(4))
            for (name, peer) in [("Describe", describe), ("GetAccount", accounts)] {
                try await peer.setReading(true)
                let remainder = await peer.readToClose(limit: .seconds(10))
                print("[adversarial] 2-slow-reader: the \(name) reader got \(remainder.ends.count) ENDs, then \(remainder.goAway.map { "\($0.code) '\($0.message)'" } ?? "no GOAWAY") (\(remainder.ending ?? "open"))")
                #expect(remainder.closed, "the server must close the \(name) reader's connection")
                #expect(remainder.goAway?.code == .enhanceYourCalm, "the \(name) reader gets GOAWAY ENHANCE_YOUR_CALM: \(String(describing: remainder.goAway))")
                #expect(remainder.goAway.map { names($0.message, "unread") || names($0.message, "read nothing") } ?? false)
                #expect(remainder.ends.count < 40_000, "the server must not have answered every pipelined call")
                await peer.close()
            }
        }
    }

    /// Links `large-1` with many responding parties, phones and equipment zones (a few tens of KB as `Account`,
    /// within the field limits), and returns the size of its `GetAccount` answer.
    static func linkLargeAccount(on server: AttackServer) async throws -> Int {
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration(host: "127.0.0.1", port: server.port)) { transport in
            let accounts = AccountService.Client(wrapping: RPCClient(transport: transport, bearerToken: server.demoToken))
            let text = String(repeating: "x", count: 48)
            let parties = (1...20).map { index in
                RespondingParty(
                    id: "party-\(index)", priority: UInt32(index), firstName: "First \(text)", lastName: "Last \(text)",
                    phones: (1...4).map { Phone(number: "+1 801 555 01\(String(format: "%02d", $0))", type: .mobile) },
                    email: "party\(index)@example.com", relation: "Neighbour \(text)")
            }
            let equipment = (1...99).map { index in
                Equipment(
                    id: "equipment-\(index)", name: "Sensor \(text)", zoneNumber: String(format: "%03d", index),
                    zoneDescription: "Zone \(text)", installed: true)
            }
            let customer = Customer(
                id: "large-1", firstName: "Large", lastName: "Account \(text)", companyName: "Company \(text)",
                address: Address(street1: "1 Main St", city: "Provo", state: "UT", zip: "84601"), equipment: equipment)
            _ = try await accounts.linkAccount(LinkAccountRequest(customer: customer, respondingParties: parties))
            let zones = (1...99).map { Zone(zoneNumber: String(format: "%03d", $0), description: "Zone \(text)", location: "Room \(text)") }
            _ = try await accounts.setCentralStationZones(SetCentralStationZonesRequest(customerID: "large-1", zones: zones))
            let account = try await accounts.getAccount(GetAccountRequest(customerID: "large-1"))
            return account.serializedSize
        }
    }
}
