import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOPosix
import Testing

/// A hand-driven client connection for protocol tests: writes any bytes, reads raw frames back.
final class RawPeer: Sendable {
    private let channel: any Channel
    private let inbound: AsyncMessageQueue<ByteBuffer>
    private let decoderState: LockedBox<(FrameDecoder, ByteBuffer)>

    /// Sends the first bytes as soon as the connection is up; hands every inbound chunk to the queue; ends it at EOF.
    ///
    /// The first bytes go out from the event loop, not from the test's task: under a loaded test run that task can
    /// wait seconds for a thread, and a server with a read or handshake timeout would close the silent connection
    /// meanwhile (seen as "I/O on closed channel" in the admin endpoint's tests, whose read timeout is 10 s).
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let inbound: AsyncMessageQueue<ByteBuffer>
        let firstBytes: ByteBuffer?
        init(_ inbound: AsyncMessageQueue<ByteBuffer>, firstBytes: ByteBuffer?) {
            self.inbound = inbound
            self.firstBytes = firstBytes
        }
        func channelActive(context: ChannelHandlerContext) {
            if let firstBytes { context.writeAndFlush(wrapOutboundOut(firstBytes), promise: nil) }
            context.fireChannelActive()
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbound.push(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { inbound.finish(.success(())) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private init(channel: any Channel, inbound: AsyncMessageQueue<ByteBuffer>) {
        self.channel = channel
        self.inbound = inbound
        self.decoderState = LockedBox((FrameDecoder(expectsPreface: false), ByteBuffer()))
    }

    /// Connects; `firstBytes`, if given, are sent the moment the connection is up.
    static func connect(port: Int, firstBytes: ByteBuffer? = nil) async throws -> RawPeer {
        let inbound = AsyncMessageQueue<ByteBuffer>()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(inbound, firstBytes: firstBytes))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawPeer(channel: channel, inbound: inbound)
    }

    /// Connects, sends the preface and SETTINGS, and reads the server's SETTINGS.
    static func handshake(port: Int, settings: SettingsHeader = SettingsHeader()) async throws -> RawPeer {
        var buffer = ByteBuffer()
        Preface.write(to: &buffer)
        buffer.writeFrame(.settings, header: settings, payload: NoMessage.payload)
        let peer = try await connect(port: port, firstBytes: buffer)
        let first = try await peer.nextFrame()
        #expect(first?.type == .settings)
        return peer
    }

    func send(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer)
    }

    func close() async {
        try? await channel.close()
    }

    /// Half-closes: sends FIN (no more bytes from this side) and keeps reading.
    func halfClose() async throws {
        try await channel.close(mode: .output)
    }

    /// All bytes until the server closes the connection, or what arrived when `limit` passes.
    ///
    /// The limits here only bound a wait for the server; they are generous because a loaded suite can hold a loop for
    /// seconds (`ClientConfiguration.forTesting`). A test that expects silence passes its own, shorter limit.
    func readToEnd(limit: Duration = .seconds(30)) async throws -> ByteBuffer {
        var all = ByteBuffer()
        let deadline = ContinuousClock.now + limit
        do {
            while ContinuousClock.now < deadline, let chunk = try await nextChunk(until: deadline) {
                var chunk = chunk
                all.writeBuffer(&chunk)
            }
        } catch let error as RPCError where error.code == .deadlineExceeded {
            // The server kept the connection open: return what it sent.
        }
        return all
    }

    /// Bytes until `enough` holds for all of them, the server closes the connection, or `limit` passes.
    func read(until enough: (ByteBuffer) -> Bool, limit: Duration = .seconds(30)) async throws -> ByteBuffer {
        var all = ByteBuffer()
        let deadline = ContinuousClock.now + limit
        do {
            while !enough(all), ContinuousClock.now < deadline, let chunk = try await nextChunk(until: deadline) {
                var chunk = chunk
                all.writeBuffer(&chunk)
            }
        } catch let error as RPCError where error.code == .deadlineExceeded {
            // Not enough in time: return what came.
        }
        return all
    }

    /// The next frame the server sends, skipping SETTINGS ACKs and WINDOW_UPDATEs unless asked for; nil at EOF.
    func nextFrame(includingControl: Bool = false, limit: Duration = .seconds(30)) async throws -> Frame? {
        let deadline = ContinuousClock.now + limit
        while true {
            let decoded: Frame? = try decoderState.withLock { state in
                while case .frame(let frame)? = try state.0.decodeNext(&state.1) {
                    if includingControl || !(frame.type == .settings && frame.flags.contains(.ack)) && frame.type != .windowUpdate {
                        return frame
                    }
                }
                return nil
            }
            if let decoded { return decoded }
            guard let chunk = try await nextChunk(until: deadline) else { return nil }
            decoderState.withLock { state in
                var chunk = chunk
                state.1.writeBuffer(&chunk)
            }
        }
    }

    /// Waits for the GOAWAY that precedes the close, skipping other frames.
    func expectGoAway(sourceLocation: SourceLocation = #_sourceLocation) async throws -> GoAwayHeader? {
        while let frame = try await nextFrame() {
            if frame.type == .goAway { return try GoAwayHeader(from: frame.header) }
        }
        Issue.record("connection closed without GOAWAY", sourceLocation: sourceLocation)
        return nil
    }

    private func nextChunk(until deadline: ContinuousClock.Instant) async throws -> ByteBuffer? {
        let inbound = self.inbound
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await inbound.next() }
            group.addTask {
                try await Task.sleep(until: deadline)
                throw RPCError(code: .deadlineExceeded, message: "no bytes from the server in time")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }  // AsyncMessageQueue.next() ends with CANCELLED when its task is cancelled, so the loser never hangs
    }
}
