import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import NIOPosix

/// A scripted server: it answers every REQUEST that ends its stream with the frames `answer` writes for its call
/// id, then, after `endDelay`, the frames `end` writes. What a server other than CopsLink's may send for a call the
/// bundled client reads as unary: the response in a MESSAGE frame of its own, two responses, none.
final class ScriptedAnswerServer: Sendable {
    typealias Script = @Sendable (_ callID: UInt64, _ buffer: inout ByteBuffer) -> Void

    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    fileprivate final class Handler: ChannelInboundHandler {
        typealias InboundIn = InboundFrame
        typealias OutboundOut = ByteBuffer
        let answer: Script
        let end: Script
        let endDelay: TimeAmount

        init(answer: @escaping Script, end: @escaping Script, endDelay: TimeAmount) {
            self.answer = answer
            self.end = end
            self.endDelay = endDelay
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = context.channel.allocator.buffer(capacity: 256)
            switch unwrapInboundIn(data) {
            case .preface:
                buffer.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
            case .frame(let frame) where frame.type == .request && frame.flags.contains(.endStream):
                let callID = frame.callID
                answer(callID, &buffer)
                var ending = context.channel.allocator.buffer(capacity: 256)
                end(callID, &ending)
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: endDelay) {
                    loopBound.value.writeAndFlush(NIOAny(ending), promise: nil)
                }
            case .frame:
                return
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private init(channel: any Channel) { self.channel = channel }

    /// Runs `body` with a server started for it, stopped (and awaited) when `body` returns or throws.
    static func with<Result: Sendable>(
        endDelay: TimeAmount = .zero, answer: @escaping Script, end: @escaping Script,
        _ body: (ScriptedAnswerServer) async throws -> Result
    ) async throws -> Result {
        let server = try await start(endDelay: endDelay, answer: answer, end: end)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    private static func start(
        endDelay: TimeAmount = .zero, answer: @escaping Script, end: @escaping Script
    ) async throws -> ScriptedAnswerServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(expectsPreface: true)))
                    try channel.pipeline.syncOperations.addHandler(Handler(answer: answer, end: end, endDelay: endDelay))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedAnswerServer(channel: channel)
    }

    func stop() async { try? await channel.close() }
}

@available(*, unavailable)
extension ScriptedAnswerServer.Handler: Sendable {}

extension ByteBuffer {
    /// A MESSAGE frame carrying `response` on call `callID`.
    mutating func writeResponse(_ response: some RPCMessage, callID: UInt64) {
        writeFrame(.message, callID: callID, header: NoMessage.header, message: response)
    }

    /// An END frame of status OK without a message on call `callID`.
    mutating func writeOKEnd(callID: UInt64) {
        writeFrame(.end, callID: callID, header: EndHeader(statusCode: 0), payload: NoMessage.payload)
    }
}
