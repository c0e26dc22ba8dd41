import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOPosix

/// A hand-driven connection for attacks: writes any bytes, can stop reading (so that the server's answers pile up in
/// the kernel's buffers and then in the server), and reads raw frames back.
///
/// Like the integration tests' `RawPeer`, it sends its first bytes from the event loop when the connection comes up
/// and hands every inbound chunk to a queue; unlike it, it can hold reading off and it records how the connection
/// ended (EOF or an error such as a reset).
final class AttackPeer: Sendable {
    let channel: any Channel
    private let inbound: AsyncMessageQueue<ByteBuffer>
    private let decoderState: LockedBox<(FrameDecoder, ByteBuffer)>
    private let ending: LockedBox<String?>

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let inbound: AsyncMessageQueue<ByteBuffer>
        let firstBytes: ByteBuffer?
        let ending: LockedBox<String?>
        init(_ inbound: AsyncMessageQueue<ByteBuffer>, firstBytes: ByteBuffer?, ending: LockedBox<String?>) {
            self.inbound = inbound
            self.firstBytes = firstBytes
            self.ending = ending
        }
        func channelActive(context: ChannelHandlerContext) {
            if let firstBytes { context.writeAndFlush(wrapOutboundOut(firstBytes), promise: nil) }
            context.fireChannelActive()
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbound.push(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) {
            ending.withLock { if $0 == nil { $0 = "closed" } }
            inbound.finish(.success(()))
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            ending.withLock { if $0 == nil { $0 = "\(error)" } }
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, inbound: AsyncMessageQueue<ByteBuffer>, ending: LockedBox<String?>) {
        self.channel = channel
        self.inbound = inbound
        self.ending = ending
        self.decoderState = LockedBox(
            (FrameDecoder(limits: FrameLimits(maxFrameSize: 64 << 20, maxHeaderSize: 1 << 20), expectsPreface: false), ByteBuffer()))
    }

    /// The attackers' own event loop, apart from NIO's shared singleton group: megabytes of attack traffic queued
    /// on the singleton's loops would delay the timing-sensitive tests of other suites running in the same process.
    /// Never shut down; it lives as long as the test process.
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Connects; `firstBytes`, if given, are sent the moment the connection is up. A small `receiveBuffer` makes a
    /// peer that stops reading push back on the server sooner.
    static func connect(port: Int, firstBytes: ByteBuffer? = nil, receiveBuffer: Int? = nil) async throws -> AttackPeer {
        let inbound = AsyncMessageQueue<ByteBuffer>()
        let ending = LockedBox<String?>(nil)
        var bootstrap = ClientBootstrap(group: group)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(inbound, firstBytes: firstBytes, ending: ending))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return AttackPeer(channel: channel, inbound: inbound, ending: ending)
    }

    /// Connects, sends the preface and SETTINGS, and reads the server's SETTINGS; nil if the server answered with
    /// something else (a GOAWAY REFUSED, say), which `refusal` then holds.
    static func handshake(port: Int, receiveBuffer: Int? = nil) async throws -> AttackPeer {
        let peer = try await connect(port: port, firstBytes: AttackFrames.prefaceAndSettings(), receiveBuffer: receiveBuffer)
        let first = try await peer.nextFrame()
        guard first?.type == .settings else {
            throw RPCError(code: .unavailable, message: "no SETTINGS from the server: \(first.map(describe) ?? "connection closed")")
        }
        return peer
    }

    /// Writes and waits until the bytes are handed to the kernel.
    func send(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer)
    }

    /// Writes without waiting: for a server that stops reading, the write may not complete until the attack ends.
    func sendWithoutWaiting(_ buffer: ByteBuffer) {
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Stops (or resumes) reading from the socket: the kernel's receive buffer fills and TCP stops the server.
    /// Resuming on a connection that is already closed does nothing.
    func setReading(_ reading: Bool) async throws {
        do {
            try await channel.setOption(ChannelOptions.autoRead, value: reading).get()
        } catch ChannelError.ioOnClosedChannel where reading {
            return
        }
        if reading { channel.read() }
    }

    func close() async {
        try? await channel.close()
    }

    /// How the connection ended: nil while open, "closed" at EOF, else the error (e.g. a connection reset).
    var ended: String? { ending.value }

    /// The next frame, skipping SETTINGS ACKs, WINDOW_UPDATEs and PINGs; nil at EOF. Throws DEADLINE_EXCEEDED if
    /// nothing arrives within `limit`.
    func nextFrame(limit: Duration = .seconds(10)) async throws -> Frame? {
        let deadline = ContinuousClock.now + limit
        while true {
            let decoded: Frame? = try decoderState.withLock { state in
                while case .frame(let frame)? = try state.0.decodeNext(&state.1) {
                    let control =
                        (frame.type == .settings && frame.flags.contains(.ack)) || frame.type == .windowUpdate || frame.type == .ping
                    if !control { return frame }
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

    /// Reads until the END of `callID` and returns its header; fails on GOAWAY or EOF first.
    func end(of callID: UInt64, limit: Duration = .seconds(10)) async throws -> EndHeader {
        while let frame = try await nextFrame(limit: limit) {
            if frame.type == .end, frame.callID == callID { return try EndHeader(from: frame.header) }
            if frame.type == .goAway {
                let goAway = try GoAwayHeader(from: frame.header)
                throw RPCError(code: .unavailable, message: "GOAWAY \(goAway.code) '\(goAway.message)' before the END of call \(callID)")
            }
        }
        throw RPCError(code: .unavailable, message: "the connection closed before the END of call \(callID) (\(ended ?? "?"))")
    }

    /// Everything the server sends until it closes the connection (or `limit` passes).
    struct Remainder: Sendable {
        var ends: [UInt64: EndHeader] = [:]
        var messages = 0
        var goAway: GoAwayHeader?
        /// Whether the server closed the connection within the limit.
        var closed = false
        var ending: String?
    }

    func readToClose(limit: Duration = .seconds(10)) async -> Remainder {
        var remainder = Remainder()
        let deadline = ContinuousClock.now + limit
        do {
            while ContinuousClock.now < deadline, let frame = try await nextFrame(limit: deadline - ContinuousClock.now) {
                switch frame.type {
                case .end: remainder.ends[frame.callID] = try? EndHeader(from: frame.header)
                case .message: remainder.messages += 1
                case .goAway: remainder.goAway = try? GoAwayHeader(from: frame.header)
                default: break
                }
            }
            remainder.closed = ContinuousClock.now < deadline || inbound.isFinished
        } catch let error as RPCError where error.code == .deadlineExceeded {
            remainder.closed = false
        } catch {
            // A reset or an undecodable byte stream: the connection is over all the same.
            remainder.closed = true
        }
        remainder.ending = ended
        return remainder
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

/// One frame, for failure messages.
func describe(_ frame: Frame) -> String {
    switch frame.type {
    case .goAway:
        if let goAway = try? GoAwayHeader(from: frame.header) { return "GOAWAY \(goAway.code) '\(goAway.message)'" }
    case .end:
        if let end = try? EndHeader(from: frame.header) { return "END \(end.statusCode) '\(end.statusMessage.prefix(200))'" }
    default: break
    }
    return "\(frame.type) on call \(frame.callID)"
}
