import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

@testable import CopsLinkTransport

/// The server-wide budget of answers held for clients that do not take them (PROTOCOL.md §12): connections that
/// become unwritable, and messages waiting for credit, count against it; past it they are dropped.
@Suite("Unread-answer budget", .serialized)
struct UnreadAnswerBudgetTests {
    @Test func reservesWithinTheLimitOnly() {
        let budget = UnreadAnswerBudget(limit: 1_000)
        #expect(budget.reserve(600))
        #expect(!budget.isExhausted)
        #expect(!budget.reserve(401), "past the limit")
        #expect(budget.usedBytes == 600, "a refused reservation counts nothing")
        #expect(budget.isExhausted, "spent once something was refused")
        #expect(budget.reserve(400))
        budget.release(200)
        #expect(budget.isExhausted, "still spent at 800, above three quarters")
        budget.release(800)
        #expect(budget.usedBytes == 0 && !budget.isExhausted)
        #expect(budget.reserve(5_000), "one answer larger than the whole budget goes out when nothing else is held")
        #expect(!budget.reserve(1))
        budget.release(5_000)
        #expect(
            budget.refusal(adding: 5)
                == "the server holds 0 bytes of answers its clients have not taken; 5 more would pass its limit of 1000")
    }

    /// What is held for clients without a key counts in a share of its own: past it only they are refused, and the
    /// budget is not spent for keyed clients.
    @Test func clientsWithoutAKeyHoldAShareOfTheirOwn() {
        let budget = UnreadAnswerBudget(limit: 1_000)
        #expect(budget.untrustedLimit == 250)
        #expect(budget.reserve(200, for: .untrusted))
        #expect(!budget.reserve(100, for: .untrusted), "past the share")
        #expect(
            budget.refusal(adding: 100, for: .untrusted)
                == "connections without an authenticated caller hold 200 bytes of answers they have not taken; 100 more would pass their share of 250"
        )
        #expect(!budget.isExhausted, "the share is spent, not the budget")
        #expect(budget.reserve(800), "a keyed client's answers still fit")
        #expect(budget.usedBytes == 1_000 && budget.untrustedBytes == 200)
        budget.release(200, for: .untrusted)
        budget.release(800)
        #expect(budget.usedBytes == 0 && budget.untrustedBytes == 0)
    }

    /// What is held for an API key's clients counts in that key's share: past it only that key is refused, and the
    /// budget is not spent for the others.
    @Test func eachKeyHoldsAShareOfItsOwn() {
        let budget = UnreadAnswerBudget(limit: 1_000)
        #expect(budget.perKeyLimit == 250)
        #expect(budget.reserve(200, for: .key("a")))
        #expect(!budget.reserve(100, for: .key("a")), "past a's share")
        #expect(
            budget.refusal(adding: 100, for: .key("a"))
                == "API key a's connections hold 200 bytes of answers they have not taken; 100 more would pass the key's share of 250"
        )
        #expect(!budget.isExhausted, "a's share is spent, not the budget")
        #expect(
            budget.callRefusal(forKey: "a")?.message
                == "API key a's connections hold 200 bytes of answers they have not taken, near the key's share of 250; read them, or retry later",
            "a's new calls are refused before they run")
        #expect(budget.callRefusal(forKey: "b") == nil)
        #expect(budget.reserve(250, for: .key("b")), "another key's answers still fit")
        #expect(budget.reserve(250, for: .untrusted), "the untrusted share is apart")
        #expect(!budget.reserve(1, for: .untrusted))
        #expect(budget.reserve(300), "a server that authenticates nobody knows no keys: only the limit")
        #expect(!budget.reserve(10, for: .key("c")), "past the limit, whatever the key's share")
        #expect(budget.isExhausted)
        #expect(budget.usedBytes(ofKey: "c") == 0, "a refusal at the limit counts nothing in the key's share")
        #expect(budget.usedBytes == 1_000 && budget.usedBytes(ofKey: "a") == 200 && budget.usedBytes(ofKey: "b") == 250)
        budget.release(12, for: .key("a"))
        #expect(budget.callRefusal(forKey: "a") != nil, "188 bytes: not yet under three quarters of the share")
        budget.release(188, for: .key("a"))
        #expect(budget.usedBytes(ofKey: "a") == 0)
        #expect(budget.callRefusal(forKey: "a") == nil)
        #expect(budget.reserve(100, for: .key("a")), "a fits again once it has released")
        for (bytes, holder) in [(100, UnreadAnswerBudget.Holder.key("a")), (250, .key("b")), (250, .untrusted), (300, .anyone)] {
            budget.release(bytes, for: holder)
        }
        #expect(budget.usedBytes == 0 && budget.untrustedBytes == 0 && budget.usedBytes(ofKey: "b") == 0)
        #expect(budget.reserve(5_000, for: .key("a")), "one answer larger than the share goes out when the key holds nothing")
        budget.release(5_000, for: .key("a"))
    }

    /// A connection's unread answers count for the key whose caller first authenticated on it: one key's second
    /// unwritable connection passes its share and is closed with GOAWAY naming the key, while another key's
    /// connection still fits (attacker round 4: one key's unread HTTP/JSON pages filled the whole budget).
    @Test func oneKeysConnectionsThatFallBehindHoldOnlyItsShare() async throws {
        let budget = UnreadAnswerBudget(limit: 400_000)
        let connections = try await Self.connections(4, sharing: budget)
        let (first, second, third, other) = (connections[0], connections[1], connections[2], connections[3])
        for harness in [first, second] { #expect(try await Self.keyedCall(on: harness).code == 0) }
        #expect(first.trust.keyID == "k", "the call's caller recorded its key on the connection")
        other.trust.grant(keyID: "another dealer's")
        try await first.setWritable(false)
        #expect(budget.usedBytes(ofKey: "k") == 100_000)
        try await second.setWritable(false)
        await second.settle()
        #expect(
            try ServerConnectionHarness.goAway(try await second.frames())?.message
                == "API key k's connections hold 100000 bytes of answers they have not taken; 100000 more would pass the key's share of 100000"
        )
        #expect(!second.channel.isActive)
        // k's share is spent: its new calls are refused before they run, on any connection.
        let refused = try await Self.keyedCall(on: third)
        #expect(refused.code == StatusCode.resourceExhausted.rawValue)
        #expect(
            refused.message?.hasPrefix("API key k's connections hold 100000 bytes of answers they have not taken, near the key's share")
                == true)
        try await other.setWritable(false)
        #expect(other.channel.isActive, "another key's connection fits")
        #expect(budget.usedBytes == 200_000 && budget.usedBytes(ofKey: "another dealer's") == 100_000)
        #expect(!budget.isExhausted)
        try await first.setWritable(true)
        #expect(try await Self.keyedCall(on: third).code == 0, "once k's connection drained, its calls run again")
        for harness in [first, second, third, other] { await harness.close() }
        #expect(budget.usedBytes == 0 && budget.usedBytes(ofKey: "k") == 0)
    }

    /// `count` connections of a server that authenticates callers (`MetadataAuthenticator`), with an outbound
    /// high-water mark of 100,000 and their unread answers in `budget`, past the handshake.
    static func connections(_ count: Int, sharing budget: UnreadAnswerBudget) async throws -> [ServerConnectionHarness] {
        var configuration = ServerConfiguration()
        configuration.outboundHighWaterMark = 100_000
        var connections: [ServerConnectionHarness] = []
        for _ in 0..<count {
            let harness = try await ServerConnectionHarness(configuration: configuration, authenticates: true, unreadAnswers: budget)
            try await harness.handshake()
            connections.append(harness)
        }
        return connections
    }

    /// An EmptyCall with key `k` on `harness`: the status code and message of its END.
    static func keyedCall(on harness: ServerConnectionHarness) async throws -> (code: UInt32?, message: String?) {
        let id = harness.callID()
        try await harness.send(
            harness.request(id, TestService.Method.emptyCall.path, EmptyMessage(), metadata: ["authorization": .text("Bearer k")]))
        let end = try ServerConnectionHarness.ends(try await harness.frames())[id]
        return (end?.statusCode, end?.statusMessage)
    }

    /// What waits for a call counts for its own caller's key, not the connection's first: behind a proxy that pools
    /// connections, one connection carries several dealers' calls.
    @Test func aCallsWaitingMessageCountsForItsCallersKey() async throws {
        let budget = UnreadAnswerBudget(limit: 1 << 20)
        let harness = try await ServerConnectionHarness(authenticates: true, unreadAnswers: budget)
        try await harness.handshake(settings: SettingsHeader(initialWindowSize: 1))
        harness.trust.grant(keyID: "the connection's first")
        let request = StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1_000), ResponseParameters(size: 1_000)])
        let id = harness.callID()
        try await harness.send(
            harness.request(id, TestService.Method.streamingOutputCall.path, request, metadata: ["authorization": .text("Bearer k")]))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[id] == nil, "the second message waits for credit")
        #expect(budget.usedBytes(ofKey: "k") > 1_000 && budget.usedBytes(ofKey: "k") == budget.usedBytes)
        #expect(budget.usedBytes(ofKey: "the connection's first") == 0)
        await harness.close()
        #expect(budget.usedBytes == 0 && budget.usedBytes(ofKey: "k") == 0)
    }

    /// Native connections on which no caller has authenticated hold the share for clients without a key: one that
    /// becomes unwritable past it is closed, while a connection whose caller authenticated still fits.
    @Test func keylessConnectionsThatFallBehindHoldOnlyTheirShare() async throws {
        let budget = UnreadAnswerBudget(limit: 400_000)
        let connections = try await Self.connections(3, sharing: budget)
        let (keyless, keylessToo, keyed) = (connections[0], connections[1], connections[2])
        #expect(try await Self.keyedCall(on: keyed).code == 0)

        try await keyless.setWritable(false)
        #expect(budget.untrustedBytes == 100_000)
        try await keylessToo.setWritable(false)
        await keylessToo.settle()
        #expect(!keylessToo.channel.isActive, "past the share of 100,000 for connections without a key")
        try await keyed.setWritable(false)
        #expect(keyed.channel.isActive)
        #expect(budget.usedBytes == 200_000 && budget.untrustedBytes == 100_000)
        for harness in [keyless, keylessToo, keyed] { await harness.close() }
        #expect(budget.usedBytes == 0 && budget.untrustedBytes == 0)
    }

    /// An unwritable connection holds at least the outbound high-water mark until it is writable again or closes.
    @Test func anUnwritableConnectionHoldsItsSocketsBytesUntilWritable() throws {
        let budget = UnreadAnswerBudget(limit: 1_000)
        var hold = UnwritableHold(budget: budget, highWaterMark: 700)
        let channel = EmbeddedChannel()
        let trusted = ConnectionTrust(trusted: true)
        #expect(hold.begin(channel, trust: trusted) == nil)
        #expect(budget.usedBytes == 700)
        #expect(hold.begin(channel, trust: trusted) == nil, "counted once per episode")
        #expect(budget.usedBytes == 700)
        var other = UnwritableHold(budget: budget, highWaterMark: 700)
        #expect(other.begin(channel, trust: trusted) != nil, "a second one does not fit")
        #expect(budget.usedBytes == 700)
        hold.end()
        other.end()
        #expect(budget.usedBytes == 0)
        _ = try? channel.finish()
    }

    /// Two native connections become unwritable; the budget holds one: the second is closed with GOAWAY
    /// ENHANCE_YOUR_CALM at once, not after the unwritable timeout. The first's share is released when it drains.
    @Test func aNativeConnectionThatWouldPassTheBudgetIsClosed() async throws {
        var configuration = ServerConfiguration()
        configuration.outboundHighWaterMark = 100_000
        let budget = UnreadAnswerBudget(limit: 150_000)
        let first = try await ServerConnectionHarness(configuration: configuration, unreadAnswers: budget)
        let second = try await ServerConnectionHarness(configuration: configuration, unreadAnswers: budget)
        try await first.handshake()
        try await second.handshake()
        try await first.setWritable(false)
        #expect(budget.usedBytes == 100_000)
        try await second.setWritable(false)
        await second.settle()
        let goAway = try ServerConnectionHarness.goAway(try await second.frames())
        #expect(goAway?.code == .enhanceYourCalm)
        #expect(
            goAway?.message
                == "the server holds 100000 bytes of answers its clients have not taken; 100000 more would pass its limit of 150000")
        #expect(!second.channel.isActive)
        #expect(budget.usedBytes == 100_000)
        #expect(first.channel.isActive)
        try await first.setWritable(true)
        #expect(budget.usedBytes == 0)
        try await first.setWritable(false)
        #expect(budget.usedBytes == 100_000)
        await first.close()
        #expect(budget.usedBytes == 0, "released when the connection closed while unwritable")
        await second.close()
    }

    /// While unwritable, the answers of calls already running still go into the socket: they count too, and one that
    /// does not fit closes the connection.
    @Test func answersWrittenWhileUnwritableCountAndOnePastTheBudgetClosesTheConnection() async throws {
        var configuration = ServerConfiguration()
        configuration.outboundHighWaterMark = 100_000
        let budget = UnreadAnswerBudget(limit: 100_010)
        let harness = try await ServerConnectionHarness(configuration: configuration, unreadAnswers: budget)
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, ServerConnectionHarness.gatedUnary.path, EmptyMessage()))
        try await harness.setWritable(false)
        #expect(budget.usedBytes == 100_000)
        harness.gate.release(id)  // its END frame goes out into the unwritable socket: past 100,010
        await harness.settle()
        let frames = try await harness.frames()
        #expect(try ServerConnectionHarness.goAway(frames)?.code == .enhanceYourCalm)
        #expect(!harness.channel.isActive)
        #expect(budget.usedBytes == 0)
        await harness.close()
    }

    /// A response message that waits for the client's credit counts; one that would pass the budget ends its call
    /// RESOURCE_EXHAUSTED at once rather than being held.
    @Test func aMessageWaitingForCreditCountsAndOnePastTheBudgetEndsItsCall() async throws {
        let budget = UnreadAnswerBudget(limit: 1_500)
        let harness = try await ServerConnectionHarness(unreadAnswers: budget)
        try await harness.handshake(settings: SettingsHeader(initialWindowSize: 1))
        let request = StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1_000), ResponseParameters(size: 1_000)])
        let waiting = harness.callID()
        try await harness.send(harness.request(waiting, TestService.Method.streamingOutputCall.path, request))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[waiting] == nil, "the second message waits for credit")
        let held = budget.usedBytes
        #expect(held > 1_000 && held < 1_100)
        let refused = harness.callID()
        try await harness.send(harness.request(refused, TestService.Method.streamingOutputCall.path, request))
        let end = try ServerConnectionHarness.ends(try await harness.frames())[refused]
        #expect(end?.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(end?.statusMessage.hasPrefix("the server holds \(held) bytes of answers its clients have not taken;") == true)
        #expect(budget.usedBytes == held)
        await harness.close()
        #expect(budget.usedBytes == 0, "the waiting message left the budget with its connection")
    }
}
