import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// A client that sends and never reads: the server must stop taking its calls, not queue their answers.
@Suite("Outbound backpressure", .serialized)
struct OutboundBackpressureTests {
    @Test func whileUnwritableNoCallIsDispatchedAndNoReadIsAskedFor() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        try await harness.setWritable(false)
        var bytes = ByteBuffer()
        var ids: [UInt64] = []
        for _ in 0..<3 {
            let id = harness.callID()
            ids.append(id)
            var request = harness.request(id, TestService.Method.emptyCall.path, EmptyMessage())
            bytes.writeBuffer(&request)
        }
        try await harness.send(bytes)
        #expect(try await harness.frames().isEmpty, "calls were dispatched while the connection was unwritable")
        let readsBefore = harness.reads.count
        try await harness.requestRead()
        #expect(harness.reads.count == readsBefore, "a read reached the socket while the connection was unwritable")

        try await harness.setWritable(true)
        let ends = try ServerConnectionHarness.ends(try await harness.frames())
        #expect(Set(ends.keys) == Set(ids))
        #expect(ends.values.allSatisfy { $0.statusCode == 0 })
        #expect(harness.reads.count == readsBefore + 1, "the read held back was not asked for once writable")
        await harness.close()
    }

    @Test func streamingSendsWaitWhileUnwritable() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, ServerConnectionHarness.gatedStream.path, EmptyMessage()))
        #expect(try await harness.frames().filter { $0.type == .message }.count == 1)

        try await harness.setWritable(false)
        await StreamRelease.shared.release()
        await harness.settle()
        #expect(try await harness.frames().isEmpty, "the handler wrote while the connection was unwritable")

        try await harness.setWritable(true)
        let frames = try await harness.frames()
        #expect(frames.filter { $0.type == .message }.count == 4)
        #expect(try ServerConnectionHarness.ends(frames)[id]?.statusCode == 0)
        await harness.close()
    }

    /// A connection (high-water mark 100,000) counting in `budget` whose gated stream has sent its first message and
    /// now waits for `StreamRelease`, made unwritable.
    static func gatedStreamBehindUnwritableSocket(_ budget: UnreadAnswerBudget) async throws -> (ServerConnectionHarness, UInt64) {
        var configuration = ServerConfiguration()
        configuration.outboundHighWaterMark = 100_000
        let harness = try await ServerConnectionHarness(configuration: configuration, unreadAnswers: budget)
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, ServerConnectionHarness.gatedStream.path, EmptyMessage()))
        #expect(try await harness.frames().filter { $0.type == .message }.count == 1)
        try await harness.setWritable(false)
        return (harness, id)
    }

    /// A message that has credit but waits for the socket counts in the unread-answer budget, and leaves it once
    /// written: a client that granted credit and read nothing held an encoded page per streaming call there,
    /// uncounted (25 connections × 100 RequestTestData calls took a server to 1.3 GB).
    @Test func aMessageWaitingForTheSocketCountsInTheUnreadAnswerBudget() async throws {
        let budget = UnreadAnswerBudget(limit: 1_000_000)
        let (harness, id) = try await Self.gatedStreamBehindUnwritableSocket(budget)
        let socket = budget.usedBytes
        await StreamRelease.shared.release()
        await harness.settle()
        #expect(budget.usedBytes > socket, "the message waiting for the socket counts: \(budget.usedBytes)")
        try await harness.setWritable(true)
        let frames = try await harness.frames()
        #expect(frames.filter { $0.type == .message }.count == 4)
        #expect(try ServerConnectionHarness.ends(frames)[id]?.statusCode == 0)
        #expect(budget.usedBytes == 0)
        await harness.close()
    }

    /// Past the budget the waiting message is refused: its call ends RESOURCE_EXHAUSTED, whose END, written into the
    /// unwritable socket past the budget too, closes the connection; nothing stays counted.
    @Test func aMessageThatWouldWaitForTheSocketPastTheBudgetEndsItsCall() async throws {
        let budget = UnreadAnswerBudget(limit: 100_005)
        let (harness, _) = try await Self.gatedStreamBehindUnwritableSocket(budget)
        await StreamRelease.shared.release()
        await harness.settle()
        #expect(!harness.channel.isActive, "refused, not held")
        #expect(budget.usedBytes == 0)
        await harness.close()
    }

    /// A client that grants no window (initial window 1, no WINDOW_UPDATE; the first message goes out, the second
    /// waits) keeps the socket writable, so the connection's unwritable clock never starts: a response message
    /// waiting for credit ends its call at the unwritable timeout. Before, the call, and its place among the
    /// connection's calls, were held for ever.
    @Test func aResponseWaitingForCreditEndsItsCallAtTheUnwritableTimeout() async throws {
        var configuration = ServerConfiguration()
        configuration.unwritableTimeout = .seconds(5)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake(settings: SettingsHeader(initialWindowSize: 1))
        let id = harness.callID()
        try await harness.send(
            harness.request(
                id, TestService.Method.streamingOutputCall.path,
                StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 1_000), ResponseParameters(size: 1_000)])))
        let early = try ServerConnectionHarness.ends(try await harness.frames())[id]
        #expect(early == nil, "the message waits for credit: \(String(describing: early))")
        await harness.advance(by: .seconds(4))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[id] == nil, "not before the timeout")
        await harness.advance(by: .seconds(2))
        let end = try ServerConnectionHarness.ends(try await harness.frames())[id]
        #expect(end?.statusCode == StatusCode.resourceExhausted.rawValue, "\(String(describing: end))")
        #expect(end?.statusMessage == "the client granted no flow-control window for 5s; the call's answer could not be sent")
        await harness.close()
    }

    @Test func aConnectionUnwritableForTheTimeoutGetsGoAway() async throws {
        var configuration = ServerConfiguration()
        configuration.unwritableTimeout = .seconds(30)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()

        // Writable again in time: nothing happens, and the clock starts over the next time.
        try await harness.setWritable(false)
        await harness.advance(by: .seconds(20))
        try await harness.setWritable(true)
        try await harness.setWritable(false)
        await harness.advance(by: .seconds(20))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.channel.isActive)

        await harness.advance(by: .seconds(11))
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .enhanceYourCalm)
        #expect(goAway.message == "the client left the server's answers unread for 30s")
        #expect(!harness.channel.isActive)
    }
}
