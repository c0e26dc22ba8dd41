import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTesting
import CopsLinkTransport
import Foundation
import NIOCore
import Testing

/// Issue 10, class 2: the server's outbound side has no backpressure. A client that pipelines requests and never
/// reads made the server queue every answer: hundreds of MB with no key (`ServerInfo/Describe`), about 1 GB with a
/// key and a large account.
extension AdversarialTests {
    @Test(
        "2: clients that pipeline Describe (no key) and GetAccount on a large account and never read: memory bounded, GOAWAY ENHANCE_YOUR_CALM"
    )
    func slowReaders() async throws {
        // A short unwritable timeout, so that the GOAWAY comes within the test's time.
        let server = try await AttackServer.start(["--unwritable-timeout", "2"])
        defer { server.stop() }
        let large = try await Self.linkLargeAccount(on: server)
        print("[adversarial] 2-slow-reader: GetAccount answers \(large) bytes")

        try await server.withAttack("2-slow-reader", growthBound: 48 * mebibyte) {
            // Without backpressure the server would queue 200,000 Describe answers (~0.9 KB each) and 8,000 large
            // accounts: about 180 MB and 340 MB.
            let describe = try await AttackPeer.handshake(port: server.port, receiveBuffer: 16 * kibibyte)
            let accounts = try await AttackPeer.handshake(port: server.port, receiveBuffer: 16 * kibibyte)
            try await describe.setReading(false)
            try await accounts.setReading(false)
            var pipelined = ByteBuffer()
            for id in 1...UInt64(200_000) {
                AttackFrames.request(id, ServerInfo.Method.describe.path, message: ServerInfoRequest(), into: &pipelined)
            }
            describe.sendWithoutWaiting(pipelined)
            // GetAccount suspends in the store, so calls pipelined all at once would mostly be refused at the
            // concurrency limit (100): 40 every 10 ms instead.
            for batch in 0..<UInt64(200) {
                pipelined.clear()
                for id in (batch * 40 + 1)...(batch * 40 + 40) {
                    AttackFrames.request(
                        id, AccountService.Method.getAccount.path, message: GetAccountRequest(customerID: "large-1"),
                        token: server.demoToken,
                        into: &pipelined)
                }
                accounts.sendWithoutWaiting(pipelined)
                try await Task.sleep(for: .milliseconds(10))
            }

            // The server stops reading both once their answers pass the high-water mark, and closes them 2 s later.
            // The GOAWAY it writes then sits behind the answers the client never read, so the client may see only
            // the close (a reset, when the server also holds requests it never read): the server's log says why.
            try await waitFor("the server to close both slow readers", limit: .seconds(15)) {
                server.log().split(separator: "\n").filter { $0.contains("slow_reader") }.count >= 2
            }
            for (name, peer) in [("Describe", describe), ("GetAccount", accounts)] {
                try await peer.setReading(true)
                let remainder = await peer.readToClose(limit: .seconds(10))
                var codes: [UInt32: Int] = [:]
                for end in remainder.ends.values { codes[end.statusCode, default: 0] += 1 }
                let ending = remainder.goAway.map { "GOAWAY \($0.code) '\($0.message)'" } ?? (remainder.ending ?? "open")
                print("[adversarial] 2-slow-reader: the \(name) reader got ENDs \(codes), then \(ending)")
                #expect(remainder.closed, "the server closes the \(name) reader's connection")
                if let goAway = remainder.goAway {
                    #expect(goAway.code == .enhanceYourCalm && names(goAway.message, "unread"), "\(goAway)")
                }
                #expect(remainder.ends.count < 8_000, "the server must not have answered every pipelined call")
                await peer.close()
            }
            let closings = server.log().split(separator: "\n").filter { $0.contains("slow_reader") }
            #expect(
                closings.count == 2 && closings.allSatisfy { names(String($0), "left the server's answers unread for 2s") }, "\(closings)")
        }
    }

    /// Many connections that pipeline Describe (no key) and never read: each one that falls behind holds the outbound
    /// high-water mark (256 KiB), and together they may hold no more than their share of `--max-unread-answers` (a
    /// quarter of 1 MiB here): the connections past it are closed at once with GOAWAY ENHANCE_YOUR_CALM, the others at
    /// the unwritable timeout.
    @Test("2b: twelve connections that never read, past a 1 MiB unread-answer budget: the ones past it closed at once")
    func slowReadersPastTheUnreadAnswerBudget() async throws {
        // The unwritable timeout left at 30 s: what closes a connection within the wait below is the budget.
        let server = try await AttackServer.start(["--max-unread-answers", "\(mebibyte)"])
        defer { server.stop() }
        try await server.withAttack("2b-unread-answer-budget", growthBound: 48 * mebibyte) {
            var peers: [AttackPeer] = []
            var pipelined = ByteBuffer()
            for id in 1...UInt64(20_000) {
                AttackFrames.request(id, ServerInfo.Method.describe.path, message: ServerInfoRequest(), into: &pipelined)
            }
            for _ in 0..<12 {
                let peer = try await AttackPeer.handshake(port: server.port, receiveBuffer: 16 * kibibyte)
                try await peer.setReading(false)
                peer.sendWithoutWaiting(pipelined)
                peers.append(peer)
            }
            // One connection's 256 KiB fits in the keyless share: at least eight are closed before the unwritable timeout.
            try await waitFor("the server to close the connections past the budget", limit: .seconds(20)) {
                server.log().split(separator: "\n").filter { $0.contains("unread_answer_budget") }.count >= 8
            }
            let closings = server.log().split(separator: "\n").filter { $0.contains("unread_answer_budget") }
            #expect(
                closings.allSatisfy {
                    names(String($0), "connections without an authenticated caller hold") && names(String($0), "their share of 262144")
                },
                "\(closings.prefix(2))")
            for peer in peers { await peer.close() }
        }
    }

    /// Links `large-1` with many responding parties, phones and equipment zones (a few tens of KB as `Account`,
    /// within the field limits), and returns the size of its `GetAccount` answer.
    static func linkLargeAccount(on server: AttackServer) async throws -> Int {
        try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) { transport in
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
