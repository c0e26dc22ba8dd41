import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// Calls whose request stream stays open hold what they received: per connection, server-wide and in time, that is
/// bounded.
@Suite("Inbound budgets", .serialized)
struct InboundBudgetTests {
    private static func bigRequest(_ size: Int) -> SimpleRequest { SimpleRequest(payload: Array(repeating: 7, count: size)) }

    private static func endStream(_ id: UInt64) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeFrame(.message, flags: .endStream, callID: id, header: NoMessage.header, payload: NoMessage.payload)
        return bytes
    }

    @Test func theCallWhoseMessagePassesTheConnectionBudgetEndsResourceExhausted() async throws {
        var configuration = ServerConfiguration()
        configuration.maxUnfinishedRequestBytesPerConnection = 1_000
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let first = harness.callID()
        let second = harness.callID()
        let path = TestService.Method.unaryCall.path
        try await harness.send(harness.request(first, path, Self.bigRequest(600), endStream: false))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.budget.usedBytes >= 600)

        try await harness.send(harness.request(second, path, Self.bigRequest(600), endStream: false))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[second])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(refused.statusMessage.hasPrefix("the connection holds 60"))
        #expect(refused.statusMessage.hasSuffix("would pass its limit of 1000"))

        // The first call goes on, and once its request stream ends it holds nothing against the budgets.
        try await harness.send(Self.endStream(first))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[first]?.statusCode == 0)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    @Test func aSingleRequestCallIsNotGrantedCreditForItsMessage() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, TestService.Method.unaryCall.path, Self.bigRequest(1_000), endStream: false))
        // Granting it back would stop counting a message the waiting call still holds.
        #expect(try await harness.frames().isEmpty)
        #expect(harness.budget.usedBytes >= 1_000)
        await harness.close()
        #expect(harness.budget.usedBytes == 0, "a closed connection still counts bytes against the server")
    }

    @Test func streamedMessagesCountUntilGrantedBack() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, TestService.Method.streamingInputCall.path, Self.bigRequest(2_000), endStream: false))
        let frames = try await harness.frames()
        #expect(frames.contains { $0.type == .windowUpdate && $0.callID == id }, "the consumed message was not granted back")
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    /// A call without a deadline, or of a method taking one request whatever its deadline, whose request stream
    /// stays silent ends at the request timeout; a streaming call's messages start the clock again, and a streaming
    /// call with a deadline is left to its deadline.
    @Test func aCallWithoutDeadlineWhoseRequestStreamStaysSilentEndsAtTheTimeout() async throws {
        var configuration = ServerConfiguration()
        configuration.requestIdleTimeout = .seconds(30)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let silent = harness.callID()
        let unaryWithDeadline = harness.callID()
        let streaming = harness.callID()
        let streamingWithDeadline = harness.callID()
        try await harness.send(harness.request(silent, TestService.Method.unaryCall.path, Self.bigRequest(100), endStream: false))
        try await harness.send(
            harness.request(
                unaryWithDeadline, TestService.Method.unaryCall.path, Self.bigRequest(100), endStream: false,
                timeoutMicros: 3_600_000_000))
        try await harness.send(
            harness.request(
                streaming, TestService.Method.streamingInputCall.path, Self.bigRequest(100), endStream: false))
        try await harness.send(
            harness.request(
                streamingWithDeadline, TestService.Method.streamingInputCall.path, Self.bigRequest(100), endStream: false,
                timeoutMicros: 60_000_000))
        _ = try await harness.frames()

        await harness.advance(by: .seconds(20))
        var more = ByteBuffer()
        more.writeFrame(.message, callID: streaming, header: NoMessage.header, payload: Self.bigRequest(10))
        try await harness.send(more)  // the streaming call's clock starts over
        await harness.advance(by: .seconds(11))
        let ends = try ServerConnectionHarness.ends(try await harness.frames())
        #expect(ends.keys.sorted() == [silent, unaryWithDeadline], "an hour's deadline kept a unary call's request stream open")
        for id in [silent, unaryWithDeadline] {
            let end = try #require(ends[id])
            #expect(end.statusCode == StatusCode.deadlineExceeded.rawValue)
            #expect(end.statusMessage == "the client sent nothing on the call's request stream for 30s")
        }

        await harness.advance(by: .seconds(20))
        #expect(try ServerConnectionHarness.ends(try await harness.frames()).keys.sorted() == [streaming])
        await harness.advance(by: .seconds(10))
        #expect(
            try ServerConnectionHarness.ends(try await harness.frames())[streamingWithDeadline]?.statusCode
                == StatusCode.deadlineExceeded.rawValue)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    /// A method with its own request limit (those open without a key) refuses a larger message on its REQUEST or on
    /// a later MESSAGE, holding none of it; a message within the limit is served.
    @Test func aMethodsOwnRequestLimitRefusesLargerMessages() async throws {
        let harness = try await ServerConnectionHarness(keylessLimit: 64)
        try await harness.handshake()
        let path = Health.Method.check.path
        let onRequest = harness.callID()
        try await harness.send(harness.request(onRequest, path, HealthCheckRequest(service: String(repeating: "s", count: 100))))
        let onMessage = harness.callID()
        try await harness.send(harness.request(onMessage, path, HealthCheckRequest(service: ""), endStream: false))
        var more = ByteBuffer()
        more.writeFrame(
            .message, callID: onMessage, header: NoMessage.header, payload: HealthCheckRequest(service: String(repeating: "s", count: 100)))
        try await harness.send(more)
        let served = harness.callID()
        try await harness.send(harness.request(served, path, HealthCheckRequest(service: "")))
        let ends = try ServerConnectionHarness.ends(try await harness.frames())
        for id in [onRequest, onMessage] {
            let end = try #require(ends[id])
            #expect(end.statusCode == StatusCode.resourceExhausted.rawValue)
            #expect(
                end.statusMessage.hasSuffix("bytes is larger than the open (keyless) method \(path)'s limit of 64 bytes"),
                "\(end.statusMessage)")
        }
        #expect(ends[served]?.statusCode == 0)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    @Test func pastTheServerBudgetNewCallsAreRefusedAndPartialFramesStopReading() async throws {
        let budget = InboundMemoryBudget(limit: 1_000)
        let hoarder = try await ServerConnectionHarness(budget: budget)
        let other = try await ServerConnectionHarness(budget: budget)
        try await hoarder.handshake()
        try await other.handshake()

        let big = hoarder.request(hoarder.callID(), TestService.Method.unaryCall.path, Self.bigRequest(3_000))
        try await hoarder.send(big.getSlice(at: 0, length: 1_500)!)
        #expect(budget.isExhausted)
        let reads = hoarder.reads.count
        try await hoarder.requestRead()
        #expect(hoarder.reads.count == reads, "a connection holding a partial frame read on past the server's budget")

        let refusedID = other.callID()
        try await other.send(other.request(refusedID, TestService.Method.emptyCall.path, EmptyMessage()))
        let refused = try #require(try ServerConnectionHarness.ends(try await other.frames())[refusedID])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(refused.statusMessage.hasPrefix("the server is over its inbound memory budget of 1000 bytes"))

        // The rest of the frame arrives: it is served, the bytes are released, and reading resumes.
        try await hoarder.send(big.getSlice(at: 1_500, length: big.readableBytes - 1_500)!)
        #expect(try ServerConnectionHarness.ends(try await hoarder.frames()).values.first?.statusCode == 0)
        #expect(budget.usedBytes == 0)
        await hoarder.advance(by: .milliseconds(300))
        #expect(hoarder.reads.count == reads + 1)
        let acceptedID = other.callID()
        try await other.send(other.request(acceptedID, TestService.Method.emptyCall.path, EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await other.frames())[acceptedID]?.statusCode == 0)
        await hoarder.close()
        await other.close()
    }

    @Test func repeatedUnauthenticatedCallsCloseTheConnection() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        for attempt in 1...3 {
            try await harness.send(harness.request(harness.callID(), "/test.Auth/Deny", EmptyMessage()))
            let frames = try await harness.frames()
            #expect(frames.filter { $0.type == .end }.count == 1)
            let goAway = try ServerConnectionHarness.goAway(frames)
            if attempt < 3 {
                #expect(goAway == nil)
            } else {
                #expect(goAway?.code == .enhanceYourCalm)
                #expect(goAway?.message == "too many unauthenticated calls: 3")
            }
        }
        #expect(!harness.channel.isActive)
    }
}
