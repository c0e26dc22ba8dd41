import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOPosix
import Synchronization

/// A server that completes the handshake (its SETTINGS) and then never answers anything: a peer gone silent.
final class SilentServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    private final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private let greeted = LockedFlag()

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard greeted.set() else { return }
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private init(channel: any Channel) { self.channel = channel }

    static func start() async throws -> SilentServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SilentServer(channel: channel)
    }

    func stop() async { try? await channel.close() }
}

/// A flag that is set once.
final class LockedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    /// True for the first caller only.
    func set() -> Bool { !value.exchange(true, ordering: .relaxed) }
}
