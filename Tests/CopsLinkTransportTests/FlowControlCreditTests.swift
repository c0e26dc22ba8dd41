import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// Per-call flow control on the server's receiving side (PROTOCOL.md §11): credit is granted back as the handler
/// consumes messages, never on single-request calls nor after END_STREAM, and a client sending past its credit
/// breaks the protocol.
@Suite("Flow-control credit")
struct FlowControlCreditTests {
    /// The server's receive window: three of `chunk` fit, a fourth does not.
    private static let window = 1_000
    private static let chunk = SimpleRequest(payload: Array(repeating: 1, count: 297))

    private static func harness() async throws -> ServerConnectionHarness {
        var configuration = ServerConfiguration()
        configuration.limits.initialWindowSize = window
        configuration.keepalive = KeepaliveConfiguration(interval: nil)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        return harness
    }

    /// The payload bytes `message` takes in a frame: what counts against the window.
    private static func payloadSize(_ message: SimpleRequest) throws -> Int {
        var bytes = ByteBuffer()
        bytes.writeFrame(.message, callID: 1, header: NoMessage.header, payload: message)
        var decoder = FrameDecoder(expectsPreface: false)
        guard case .frame(let frame)? = try decoder.decodeNext(&bytes) else { throw RPCError(code: .internalError, message: "no frame") }
        return frame.payload.readableBytes
    }

    /// The increments of the WINDOW_UPDATEs among `frames` for call `id`.
    private static func grants(_ frames: [Frame], _ id: UInt64) throws -> [UInt32] {
        try frames.filter { $0.type == .windowUpdate && $0.callID == id }.map { try WindowUpdateHeader(from: $0.header).increment }
    }

    /// Opens a call of the gated client-streaming method, its request stream open and empty.
    private static func openStream(_ harness: ServerConnectionHarness) async throws -> UInt64 {
        let id = harness.callID()
        try await harness.send(harness.request(id, ServerConnectionHarness.gatedClientStream.path, NoMessage.payload, endStream: false))
        return id
    }

    @Test func aClientStreamingCallIsGrantedCreditAsItsHandlerConsumes() async throws {
        let size = try Self.payloadSize(Self.chunk)
        try #require(3 * size <= Self.window && 4 * size > Self.window)
        let harness = try await Self.harness()
        let id = try await Self.openStream(harness)
        for _ in 0..<3 { try await harness.send(harness.message(id, Self.chunk)) }
        #expect(try await harness.frames().isEmpty, "credit granted for messages the handler has not read")

        // One message read: half the window is not yet consumed and more messages wait, so nothing is granted.
        harness.gate.release(id)
        await harness.settle()
        #expect(try Self.grants(try await harness.frames(), id).isEmpty)
        // Two read: half the window consumed, granted in one WINDOW_UPDATE.
        harness.gate.release(id)
        await harness.settle()
        #expect(try Self.grants(try await harness.frames(), id) == [UInt32(2 * size)])

        // The grant reopened the window: two more messages fit now (without it the first would be past it).
        for _ in 0..<2 { try await harness.send(harness.message(id, Self.chunk)) }
        #expect(harness.channel.isActive)
        // Reading the rest: a grant at half the window, then one when no message is left waiting.
        for _ in 0..<3 { harness.gate.release(id) }
        await harness.settle()
        #expect(try Self.grants(try await harness.frames(), id) == [UInt32(2 * size), UInt32(size)])

        try await harness.send(harness.message(id, NoMessage.payload, endStream: true))
        harness.gate.release(id)
        await harness.settle()
        let frames = try await harness.frames()
        #expect(try Self.grants(frames, id).isEmpty)
        #expect(try ServerConnectionHarness.ends(frames)[id]?.statusCode == 0)
        await harness.close()
    }

    @Test func messagesReadAfterEndStreamAreGrantedNothing() async throws {
        let harness = try await Self.harness()
        let id = try await Self.openStream(harness)
        try await harness.send(harness.message(id, Self.chunk))
        try await harness.send(harness.message(id, Self.chunk, endStream: true))
        for _ in 0..<3 { harness.gate.release(id) }
        await harness.settle()
        let frames = try await harness.frames()
        #expect(try Self.grants(frames, id).isEmpty, "WINDOW_UPDATE after the client ended its stream")
        #expect(try ServerConnectionHarness.ends(frames)[id]?.statusCode == 0)
        await harness.close()
    }

    @Test func aSingleRequestCallIsGrantedNothing() async throws {
        let harness = try await Self.harness()
        let id = harness.callID()
        // The message without END_STREAM: the handler reads it at once and waits for the end of the stream.
        try await harness.send(harness.request(id, TestService.Method.unaryCall.path, Self.chunk, endStream: false))
        #expect(try await harness.frames().isEmpty, "credit granted on a unary call")
        try await harness.send(harness.message(id, NoMessage.payload, endStream: true))
        let frames = try await harness.frames()
        #expect(try Self.grants(frames, id).isEmpty)
        #expect(try ServerConnectionHarness.ends(frames)[id]?.statusCode == 0)
        await harness.close()
    }

    @Test func aMessageBeyondTheWindowGetsGoAway() async throws {
        let size = try Self.payloadSize(Self.chunk)
        let harness = try await Self.harness()
        let id = try await Self.openStream(harness)
        for _ in 0..<3 { try await harness.send(harness.message(id, Self.chunk)) }
        #expect(harness.channel.isActive)
        try await harness.send(harness.message(id, Self.chunk))
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .protocolError)
        #expect(goAway.message == "call \(id) sent \(size) bytes, more than its flow-control window")
        #expect(!harness.channel.isActive)
    }

    @Test func aFirstMessageLargerThanTheWholeWindowIsAdmitted() async throws {
        let harness = try await Self.harness()
        let id = try await Self.openStream(harness)
        try await harness.send(harness.message(id, SimpleRequest(payload: Array(repeating: 2, count: 2 * Self.window))))
        #expect(harness.channel.isActive)
        harness.gate.release(id)
        await harness.settle()
        #expect(try Self.grants(try await harness.frames(), id).count == 1)
        await harness.close()
    }
}
