import CopsLinkMessages
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// The frame read timeout counts each frame's own time, on the event loop's clock.
@Suite("Frame read timeout rule")
struct FrameReadTimeoutRuleTests {
    private static func ping(_ value: UInt8) -> [UInt8] {
        var bytes = ByteBuffer()
        bytes.writeFrame(.ping, rawPayload: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, value]))
        return Array(bytes.readableBytesView)
    }

    @Test func framesSplitAcrossReadsThatEachCompleteInTimeAreServed() async throws {
        var configuration = ServerConfiguration()
        configuration.frameReadTimeout = .seconds(2)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let first = Self.ping(1), second = Self.ping(2)
        // Each frame takes 1.2 s, under the timeout; from the first frame's first byte to the second's last byte takes
        // 2.4 s, over it. Only a frame's own time counts.
        try await harness.send(ByteBuffer(bytes: first.prefix(10)))
        await harness.advance(by: .milliseconds(1200))
        try await harness.send(ByteBuffer(bytes: Array(first.dropFirst(10)) + second.prefix(10)))
        await harness.advance(by: .milliseconds(1200))
        try await harness.send(ByteBuffer(bytes: second.dropFirst(10)))
        let acks = try await harness.frames()
        #expect(acks.map(\.type) == [.ping, .ping])
        #expect(acks.map { $0.payload.getInteger(at: $0.payload.readerIndex + 7, as: UInt8.self) } == [1, 2])
        // Still open well after the first frame's timer would have fired.
        await harness.advance(by: .milliseconds(1500))
        try await harness.send(ByteBuffer(bytes: Self.ping(3)))
        #expect(try await harness.frames().map(\.type) == [.ping])
        #expect(harness.channel.isActive)
        await harness.close()
    }

    @Test func aFrameNotCompleteWithinTheTimeoutOfItsFirstBytesGetsGoAway() async throws {
        var configuration = ServerConfiguration()
        configuration.frameReadTimeout = .seconds(2)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let ping = Self.ping(1)
        for byte in ping.prefix(ping.count - 1) {
            try await harness.send(ByteBuffer(bytes: [byte]))
            await harness.advance(by: .milliseconds(100))
        }
        await harness.advance(by: .milliseconds(300))
        let goAway = try #require(try ServerConnectionHarness.goAway(try await harness.frames()))
        #expect(goAway.code == .protocolError)
        #expect(goAway.message == "no complete frame within 2s of its first bytes")
        #expect(!harness.channel.isActive)
    }
}
