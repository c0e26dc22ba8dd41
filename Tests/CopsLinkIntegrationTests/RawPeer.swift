import CopsLinkCodecs
import CopsLinkCore
import CopsLinkWire
import NIOCore
import NIOPosix
import Testing

/// A hand-driven client connection for protocol tests: writes any bytes, reads raw frames back.
final class RawPeer: Sendable {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let inbound: AsyncMessageQueue<ByteBuffer>
    private let reader: Task<Void, Never>
    private let decoderState: LockedBox<(FrameDecoder, ByteBuffer)>

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        let inbound = AsyncMessageQueue<ByteBuffer>()
        self.inbound = inbound
        self.decoderState = LockedBox((FrameDecoder(expectsPreface: false), ByteBuffer()))
        self.reader = Task {
            do {
                for try await chunk in channel.inbound { inbound.push(chunk) }
                inbound.finish(.success(()))
            } catch {
                inbound.finish(.success(()))
            }
        }
    }

    static func connect(port: Int) async throws -> RawPeer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawPeer(channel: channel)
    }

    /// Connects, sends the preface and SETTINGS, and reads the server's SETTINGS.
    static func handshake(port: Int, settings: SettingsHeader = SettingsHeader()) async throws -> RawPeer {
        let peer = try await connect(port: port)
        var buffer = ByteBuffer()
        Preface.write(to: &buffer)
        buffer.writeFrame(.settings, header: settings, payload: NoMessage.payload)
        try await peer.send(buffer)
        let first = try await peer.nextFrame()
        #expect(first?.type == .settings)
        return peer
    }

    func send(_ buffer: ByteBuffer) async throws {
        try await channel.outbound.write(buffer)
    }

    func close() async {
        reader.cancel()
        try? await channel.channel.close()
    }

    /// All bytes until the server closes the connection, or what arrived when `limit` passes.
    func readToEnd(limit: Duration = .seconds(5)) async throws -> ByteBuffer {
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

    /// The next frame the server sends, skipping SETTINGS ACKs and WINDOW_UPDATEs unless asked for; nil at EOF.
    func nextFrame(includingControl: Bool = false, limit: Duration = .seconds(5)) async throws -> Frame? {
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
