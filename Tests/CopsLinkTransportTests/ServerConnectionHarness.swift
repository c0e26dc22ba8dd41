import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
@_spi(ConnectionHarness) import CopsLinkTransport
import CopsLinkWire
import Logging
import NIOCore
import NIOEmbedded
import Synchronization

/// One server connection on an `NIOAsyncTestingChannel`, installed exactly as the listener installs it, with a
/// virtual clock: a test writes a client's bytes, runs the loop, moves time, and reads the frames the server wrote.
final class ServerConnectionHarness {
    let loop = NIOAsyncTestingEventLoop()
    let channel: NIOAsyncTestingChannel
    let budget: InboundMemoryBudget
    /// Reads the server asked the channel for (it holds them back while paused).
    let reads: ReadCounter
    /// Flushes the server asked the channel for.
    let flushes: FlushCounter
    /// Holds this connection's calls of the `gated` methods until the test releases them.
    let gate = CallGate()
    /// The connection's trust: who has authenticated on it.
    let trust: ConnectionTrust
    private var decoder = FrameDecoder(
        limits: FrameLimits(maxFrameSize: Int(UInt32.max), maxHeaderSize: Int(UInt32.max)), expectsPreface: false)
    private var received = ByteBuffer()
    private var nextCallID: UInt64 = 1

    /// Methods of the conformance service, Health, `/test.Auth/Deny`, which answers UNAUTHENTICATED, and the methods
    /// held by `gate`.
    /// - Parameter keylessLimit: request messages of the Health service's Check are limited to this many bytes, as
    ///   the server limits its methods open without a key (`RPCRouter.limitRequestMessages`).

    /// - Parameter authenticates: with `MetadataAuthenticator`, so that connections start untrusted.
    static func dispatcher(
        gate: CallGate, keylessLimit: Int? = nil, authenticates: Bool = false, maxOpenCallsAwaitingRequest: Int = 0,
        serverLogBudget: FailureLogBudget? = nil
    ) -> CallDispatcher {
        var router = RPCRouter()
        ConformanceService().registerMethods(with: &router)
        HealthService(services: router.services + [Health.serviceName]).registerMethods(with: &router)
        router.registerUnary(MethodDescriptor(service: "test.Auth", method: "Deny")) {
            (_: EmptyMessage, _) -> ServerResponse<EmptyMessage> in
            throw RPCError(code: .unauthenticated, message: "no key")
        }
        router.registerServerStreaming(ServerConnectionHarness.gatedStream) { (_: EmptyMessage, writer: ResponseWriter<EmptyMessage>, _) in
            try await writer.write(EmptyMessage())
            await StreamRelease.shared.wait()
            for _ in 0..<4 { try await writer.write(EmptyMessage()) }
            return [:]
        }
        router.registerUnary(gatedUnary) { (_: EmptyMessage, context) -> ServerResponse<EmptyMessage> in
            try await gate.pass(context.callID)
            return ServerResponse(message: EmptyMessage())
        }
        router.registerUnary(gatedDeny) { (_: EmptyMessage, context) -> ServerResponse<EmptyMessage> in
            try await gate.pass(context.callID)
            throw RPCError(code: .unauthenticated, message: "no key")
        }
        router.registerClientStreaming(gatedClientStream) {
            (requests: RequestStream<SimpleRequest>, context) -> ServerResponse<EmptyMessage> in
            var iterator = requests.makeAsyncIterator()
            while true {
                try await gate.pass(context.callID)
                guard try await iterator.next() != nil else { break }
            }
            return ServerResponse(message: EmptyMessage())
        }
        if let keylessLimit { router.limitRequestMessages(ofPaths: [Health.Method.check.path], toBytes: keylessLimit) }
        return CallDispatcher(
            router: router, interceptors: authenticates ? [MetadataAuthenticator()] : [],
            maxOpenCallsAwaitingRequest: maxOpenCallsAwaitingRequest, failureLogBudget: serverLogBudget)
    }

    /// Writes one message, waits for `StreamRelease.shared.release()`, then writes four more.
    static let gatedStream = MethodDescriptor(service: "test.Stream", method: "Gated")
    /// Answers OK once `gate` lets the call pass.
    static let gatedUnary = MethodDescriptor(service: "test.Gate", method: "Unary")
    /// Answers UNAUTHENTICATED once `gate` lets the call pass (a key whose check waited).
    static let gatedDeny = MethodDescriptor(service: "test.Gate", method: "Deny")
    /// Client streaming: reads the next request message (or the end of the stream) each time `gate` lets the call
    /// pass, and answers OK after the end of the stream.
    static let gatedClientStream = MethodDescriptor(service: "test.Gate", method: "ClientStream")

    init(
        configuration: ServerConfiguration = ServerConfiguration(), budget: InboundMemoryBudget? = nil, keylessLimit: Int? = nil,
        authenticates: Bool = false, unreadAnswers: UnreadAnswerBudget? = nil, serverLogBudget: FailureLogBudget? = nil,
        logHandler: (any LogHandler)? = nil
    ) async throws {
        channel = NIOAsyncTestingChannel(loop: loop)
        let budget = budget ?? InboundMemoryBudget(limit: configuration.maxBufferedInboundBytes)
        self.budget = budget
        let reads = ReadCounter()
        self.reads = reads
        let flushes = FlushCounter()
        self.flushes = flushes
        let channel = self.channel
        // As `TCPServer` builds it from the configuration.
        let dispatcher = Self.dispatcher(
            gate: gate, keylessLimit: keylessLimit, authenticates: authenticates,
            maxOpenCallsAwaitingRequest: configuration.maxOpenCallsAwaitingRequest, serverLogBudget: serverLogBudget)
        let logger = Logger(label: "test", factory: { _ in logHandler ?? SwiftLogNoOpLogHandler() })
        let trust = ConnectionTrust(for: dispatcher)
        self.trust = trust
        try await loop.executeInContext {
            try channel.pipeline.syncOperations.addHandlers(reads, flushes)
            try TCPServer.installConnectionHandlers(
                on: channel, configuration: configuration, dispatcher: dispatcher,
                logger: logger, budget: budget,
                unreadAnswers: unreadAnswers, trust: trust)
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000))
    }

    /// Preface and SETTINGS; returns once the server's SETTINGS and its ACK are read.
    func handshake(settings: SettingsHeader = SettingsHeader()) async throws {
        var bytes = ByteBuffer()
        Preface.write(to: &bytes)
        bytes.writeFrame(.settings, header: settings, payload: NoMessage.payload)
        try await send(bytes)
        let frames = try await frames()
        precondition(frames.map(\.type) == [.settings, .settings], "handshake: \(frames.map(\.type))")
    }

    /// Writes `bytes` as one read and lets the loop run what it started.
    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeInbound(bytes)
        await settle()
    }

    /// Runs the loop and the tasks it woke until nothing moves.
    func settle() async {
        for _ in 0..<8 {
            await loop.run()
            await Task.yield()
        }
    }

    func advance(by amount: TimeAmount) async {
        await loop.advanceTime(by: amount)
        await settle()
    }

    /// A new call id, increasing.
    func callID() -> UInt64 {
        defer { nextCallID += 1 }
        return nextCallID
    }

    /// The bytes of a REQUEST frame.
    func request(
        _ id: UInt64, _ path: String, _ message: (some RPCMessage)?, endStream: Bool = true, timeoutMicros: UInt64 = 0,
        metadata: Metadata = [:]
    ) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeFrame(
            .request, flags: endStream ? .endStream : [], callID: id,
            header: RequestHeader(method: path, timeoutMicros: timeoutMicros, metadata: metadata), payload: message)
        return bytes
    }

    /// The bytes of a MESSAGE frame (`message` nil: END_STREAM alone).
    func message(_ id: UInt64, _ message: (some RPCMessage)?, endStream: Bool = false) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeFrame(.message, flags: endStream ? .endStream : [], callID: id, header: NoMessage.header, payload: message)
        return bytes
    }

    /// The bytes of a PING frame carrying `opaque`.
    static func ping(_ opaque: UInt64, ack: Bool = false) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeFrame(.ping, flags: ack ? .ack : [], rawPayload: ByteBuffer(integer: opaque))
        return bytes
    }

    /// Every byte the server has flushed since the last call, undecoded (for what is not a frame: the text line of
    /// a handshake timeout).
    func output() async throws -> ByteBuffer {
        var output = ByteBuffer()
        while var next = try await channel.readOutbound(as: ByteBuffer.self) { output.writeBuffer(&next) }
        return output
    }

    /// Every frame the server has written since the last call (whole frames; a partial one stays for later).
    func frames() async throws -> [Frame] {
        while let next = try await channel.readOutbound(as: ByteBuffer.self) {
            var next = next
            received.writeBuffer(&next)
        }
        var frames: [Frame] = []
        while case .frame(let frame)? = try decoder.decodeNext(&received) { frames.append(frame) }
        received.discardReadBytes()
        return frames
    }

    /// The status of every END among `frames`, by call id.
    static func ends(_ frames: [Frame]) throws -> [UInt64: EndHeader] {
        var ends: [UInt64: EndHeader] = [:]
        for frame in frames where frame.type == .end {
            ends[frame.callID] = try frame.header.readableBytesView.withUnsafeBytes { try EndHeader(serializedBytes: $0) }
        }
        return ends
    }

    /// The opaque value of a PING frame.
    static func opaque(_ ping: Frame) -> UInt64? {
        ping.payload.getInteger(at: ping.payload.readerIndex, as: UInt64.self)
    }

    static func goAway(_ frames: [Frame]) throws -> GoAwayHeader? {
        guard let frame = frames.last(where: { $0.type == .goAway }) else { return nil }
        return try frame.header.readableBytesView.withUnsafeBytes { try GoAwayHeader(serializedBytes: $0) }
    }

    /// Makes the channel unwritable or writable again, as NIO does when outbound bytes pass the water marks.
    func setWritable(_ writable: Bool) async throws {
        let channel = self.channel
        try await loop.executeInContext {
            channel.isWritable = writable
            channel.pipeline.fireChannelWritabilityChanged()
        }
        await settle()
    }

    /// Asks the pipeline for a read, as NIO does after every read loop with autoRead on.
    func requestRead() async throws {
        let channel = self.channel
        try await loop.executeInContext { channel.read() }
        await settle()
    }

    func close() async {
        _ = try? await channel.close()
        await settle()
    }
}

/// Counts the reads that reach the socket end of the pipeline (the server holds them back while paused).
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    // @unchecked: touched only on the channel's event loop (the embedded loop of one test) and read by the test
    // after running that loop.
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}

/// Counts the flushes that reach the socket end of the pipeline: each is one write system call on a real socket.
final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
    // @unchecked: touched only on the channel's event loop (the embedded loop of one test) and read by the test
    // after running that loop.
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func flush(context: ChannelHandlerContext) {
        count += 1
        context.flush()
    }
}

/// Holds the calls of the gated methods, each by its call id, until the test lets them pass; records the ones
/// whose handler task was cancelled while held.
final class CallGate: Sendable {
    private struct State {
        /// Passes granted and not yet taken, by call id.
        var permits: [UInt64: Int] = [:]
        var waiting: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Waits until the test lets call `id` pass once; throws `CancellationError` if the call's task is cancelled.
    func pass(_ id: UInt64) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.contains(id) { return .failure(CancellationError()) }
                    if let permits = state.permits[id], permits > 0 {
                        state.permits[id] = permits - 1
                        return .success(())
                    }
                    state.waiting[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.cancelled.insert(id)
                return state.waiting.removeValue(forKey: id)
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Lets call `id` pass once (now, or at its next `pass`). Called from the test's thread, the call resumes at once
    /// on its NIOAsyncTestingEventLoop (whose `execute` from outside the loop runs the task immediately), in an
    /// event-loop pass of its own; to resume several calls in one pass, release them inside `loop.executeInContext`.
    func release(_ id: UInt64) {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if let waiter = state.waiting.removeValue(forKey: id) { return waiter }
            state.permits[id, default: 0] += 1
            return nil
        }
        waiter?.resume()
    }

    /// Whether call `id` is waiting at the gate now.
    func isHolding(_ id: UInt64) -> Bool { state.withLock { $0.waiting[id] != nil } }

    func wasCancelled(_ id: UInt64) -> Bool { state.withLock { $0.cancelled.contains(id) } }
}

/// Lets the gated stream's handler go on when the test says so.
actor StreamRelease {
    static let shared = StreamRelease()
    private var waiter: CheckedContinuation<Void, Never>?
    private var released = false

    func wait() async {
        if released {
            released = false
            return
        }
        await withCheckedContinuation { waiter = $0 }
    }

    func release() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        } else {
            released = true
        }
    }
}
