import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOPosix
import Synchronization

/// A scripted server: its first connection answers the first REQUEST with GOAWAY(last call id 0), so that call
/// was provably never processed; later connections answer every REQUEST with END OK and an empty message.
final class GoAwayOnFirstCallServer: Sendable {
    let channel: any Channel
    let connections = Atomic<Int>(0)
    var port: Int { channel.localAddress!.port! }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = InboundFrame
        typealias OutboundOut = ByteBuffer
        let refuses: Bool

        init(refuses: Bool) { self.refuses = refuses }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = context.channel.allocator.buffer(capacity: 64)
            switch unwrapInboundIn(data) {
            case .preface:
                buffer.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
            case .frame(let frame) where frame.type == .request:
                if refuses {
                    buffer.writeFrame(
                        .goAway, header: GoAwayHeader(lastCallID: 0, code: .noError, message: "going away"), payload: NoMessage.payload)
                    context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                    context.close(promise: nil)
                    return
                }
                buffer.writeFrame(.end, callID: frame.callID, header: EndHeader(statusCode: 0), payload: EmptyMessage())
            case .frame:
                return
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private init(channel: any Channel) { self.channel = channel }

    static func start() async throws -> GoAwayOnFirstCallServer {
        let box = LockedBox<GoAwayOnFirstCallServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = box.value!.connections.add(1, ordering: .relaxed).newValue
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(expectsPreface: true)))
                    try channel.pipeline.syncOperations.addHandler(Handler(refuses: number == 1))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = GoAwayOnFirstCallServer(channel: channel)
        box.value = server
        return server
    }

    func stop() async { try? await channel.close() }
}
