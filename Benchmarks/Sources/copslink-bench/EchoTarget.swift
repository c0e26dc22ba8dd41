import NIOCore
import NIOPosix

/// The floor: a bare SwiftNIO protocol of u32-length-prefixed frames. The server answers each 200-byte request with a
/// 600-byte response; the client pipelines N requests per connection (writes N, then one more per response) and
/// flushes once per read burst, as the server does.
enum EchoTarget {
    static let requestSize = 200
    static let responseSize = 600

    /// Splits the byte stream into frames: u32 big-endian length, then that many bytes.
    final class FrameDecoder: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer

        func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
                buffer.readableBytes >= 4 + Int(length)
            else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 4)
            let frame = buffer.readSlice(length: Int(length))!
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        }
    }

    final class ServerHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let request = unwrapInboundIn(data)
            guard request.readableBytes == EchoTarget.requestSize else {
                context.close(promise: nil)
                return
            }
            var response = context.channel.allocator.buffer(capacity: 4 + EchoTarget.responseSize)
            response.writeInteger(UInt32(EchoTarget.responseSize))
            response.writeRepeatingByte(0x62, count: EchoTarget.responseSize)
            context.write(wrapOutboundOut(response), promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }
    }

    static func serve(port: Int) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(ServerHandler())
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        announce("echo", port: channel.localAddress?.port ?? port)
        try await channel.closeFuture.get()
    }

    /// Starts the client's pipelined loop.
    struct Start: Sendable {
        let window: Window
    }

    /// Keeps `outstanding` requests in flight on one connection; responses come back in order.
    final class ClientHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let outstanding: Int
        private let request: ByteBuffer
        private let done: EventLoopPromise<([UInt64], Int)>
        private var window: Window?
        /// Send times of the requests in flight, oldest first (a ring).
        private var sendTimes: [UInt64]
        private var head = 0
        private var inFlight = 0
        private var latencies: [UInt64] = []
        private var errors = 0

        init(outstanding: Int, request: ByteBuffer, done: EventLoopPromise<([UInt64], Int)>) {
            self.outstanding = outstanding
            self.request = request
            self.done = done
            sendTimes = [UInt64](repeating: 0, count: outstanding)
            latencies.reserveCapacity(1 << 18)
        }

        private func send(_ context: ChannelHandlerContext, at time: UInt64) {
            sendTimes[(head + inFlight) % outstanding] = time
            inFlight += 1
            context.write(wrapOutboundOut(request), promise: nil)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard let start = event as? Start else { return context.fireUserInboundEventTriggered(event) }
            window = start.window
            let now = nowNanos()
            for _ in 0..<outstanding { send(context, at: now) }
            context.flush()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let response = unwrapInboundIn(data)
            let now = nowNanos()
            guard let window, inFlight > 0 else { return }
            let start = sendTimes[head]
            head = (head + 1) % outstanding
            inFlight -= 1
            if response.readableBytes != EchoTarget.responseSize { errors += 1 }
            if window.records(start: start, finish: now) { latencies.append(now - start) }
            if now < window.end {
                send(context, at: now)
            } else if inFlight == 0 {
                done.succeed((latencies, errors))
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ChannelError.ioOnClosedChannel)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }
    }

    static func drive(port: Int, outstanding: Int, connections: Int, duration: Double, warmup: Double, serverPID: Int32?) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var request = ByteBufferAllocator().buffer(capacity: 4 + requestSize)
        request.writeInteger(UInt32(requestSize))
        request.writeRepeatingByte(0x61, count: requestSize)
        let perConnection = (0..<connections).map { outstanding / connections + ($0 < outstanding % connections ? 1 : 0) }
        var channels: [(any Channel, EventLoopFuture<([UInt64], Int)>)] = []
        for count in perConnection {
            let loop = group.next()
            let promise = loop.makePromise(of: ([UInt64], Int).self)
            let requestCopy = request
            let channel = try await ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(
                            ClientHandler(outstanding: count, request: requestCopy, done: promise))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            channels.append((channel, promise.futureResult))
        }
        let window = Window(warmup: warmup, duration: duration)
        let sampler = ServerCPUSampler(pid: serverPID)
        for (channel, _) in channels { channel.pipeline.fireUserInboundEventTriggered(Start(window: window)) }
        await sampler.sample(window)
        var latencies: [UInt64] = []
        var errors = 0
        for (channel, result) in channels {
            let (recorded, failed) = try await result.get()
            latencies.append(contentsOf: recorded)
            errors += failed
            try? await channel.close()
        }
        report(
            benchmark: "unary", target: "echo", outstanding: outstanding, connections: connections, window: window,
            latencies: latencies, errors: errors, sampler: sampler)
    }
}
