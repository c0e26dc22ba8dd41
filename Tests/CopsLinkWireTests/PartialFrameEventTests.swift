import CopsLinkCodecs
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// Counts the `PartialFrameEvent`s and frames that pass it.
private final class EventCounter: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    var partialEvents = 0
    var frames = 0
    /// Frames seen when each event arrived: shows where in the stream it fired.
    var framesAtEvents: [Int] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { frames += 1 }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is PartialFrameEvent {
            partialEvents += 1
            framesAtEvents.append(frames)
        }
    }
}

@Suite("Partial frame events")
struct PartialFrameEventTests {
    private static func ping(_ value: UInt8) -> [UInt8] {
        var buffer = ByteBuffer()
        _ = buffer.writeFrame(.ping, rawPayload: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, value]))
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    private static func channel(reports: Bool) throws -> (EmbeddedChannel, EventCounter) {
        let counter = EventCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(expectsPreface: true, reportsPartialFrames: reports)))
        try channel.pipeline.syncOperations.addHandler(counter)
        return (channel, counter)
    }

    @Test func firesOncePerIncompleteFrameAndNeverForThePreface() throws {
        let (channel, counter) = try Self.channel(reports: true)
        var preface = ByteBuffer()
        Preface.write(to: &preface)
        let prefaceBytes = preface.readBytes(length: preface.readableBytes)!
        try channel.writeInbound(ByteBuffer(bytes: prefaceBytes.prefix(5)))
        try channel.writeInbound(ByteBuffer(bytes: prefaceBytes.dropFirst(5)))
        #expect(counter.partialEvents == 0, "a partial preface is the handshake timeout's business")

        let first = Self.ping(1), second = Self.ping(2)
        try channel.writeInbound(ByteBuffer(bytes: first.prefix(3)))
        try channel.writeInbound(ByteBuffer(bytes: first.dropFirst(3).prefix(10)))
        #expect(counter.partialEvents == 1, "once for the frame, not once per read")
        try channel.writeInbound(ByteBuffer(bytes: Array(first.dropFirst(13)) + second.prefix(1)))
        #expect(counter.partialEvents == 2, "the next frame started in the read that completed the first")
        try channel.writeInbound(ByteBuffer(bytes: second.dropFirst(1)))
        try channel.writeInbound(ByteBuffer(bytes: Self.ping(3) + Self.ping(4)))
        #expect(counter.partialEvents == 2, "whole frames never leave a partial one")
        #expect(counter.framesAtEvents == [1, 2])
        #expect(counter.frames == 5)
        _ = try channel.finish()
    }

    @Test func silentUnlessAsked() throws {
        let (channel, counter) = try Self.channel(reports: false)
        var preface = ByteBuffer()
        Preface.write(to: &preface)
        try channel.writeInbound(preface)
        try channel.writeInbound(ByteBuffer(bytes: Self.ping(1).prefix(4)))
        #expect(counter.partialEvents == 0)
        _ = try channel.finish()
    }
}
