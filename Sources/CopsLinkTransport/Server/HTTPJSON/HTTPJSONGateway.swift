public import CopsLinkCore
public import NIOCore
import NIOHTTP1

/// The HTTP/JSON side of the server's port (PROTOCOL.md §16): NIOHTTP1 and the gateway handler, added to a
/// connection whose first bytes are an HTTP/1.1 request line.
public enum HTTPJSONGateway {
    /// Adds the HTTP/1.1 server handlers (with pipelining assistance, so requests are answered one at a time and in
    /// order, and malformed HTTP answered 400) and the gateway, on the channel's event loop. Request bodies count
    /// against `budget` (the server's inbound budget) while they are held, and what the socket holds while the
    /// connection is unwritable against `unreadAnswers` (the server's unread-answer budget).
    public static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, dispatcher: CallDispatcher, configuration: ServerConfiguration,
        budget: InboundMemoryBudget? = nil, unreadAnswers: UnreadAnswerBudget? = nil, threadPoolTurns: ThreadPoolTurns = .shared
    ) throws {
        try configure(
            pipeline, dispatcher: dispatcher, configuration: configuration, metrics: nil, budget: budget, unreadAnswers: unreadAnswers,
            threadPoolTurns: threadPoolTurns)
    }

    static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, dispatcher: CallDispatcher, configuration: ServerConfiguration,
        metrics: ServerMetrics?, budget: InboundMemoryBudget? = nil, unreadAnswers: UnreadAnswerBudget? = nil,
        trust: ConnectionTrust? = nil, threadPoolTurns: ThreadPoolTurns = .shared
    ) throws {
        let gateway = HTTPJSONHandler(
            dispatcher: dispatcher, configuration: configuration, metrics: metrics, budget: budget, unreadAnswers: unreadAnswers,
            trust: trust, threadPoolTurns: threadPoolTurns)
        let requestStart = HTTPJSONRequestStart(gateway: gateway, maxHeaderSize: configuration.limits.maxHeaderSize)
        gateway.requestStart = requestStart
        try pipeline.addHandler(requestStart)
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try pipeline.addHandler(gateway)
    }
}

/// Tells the gateway when bytes arrive, before the HTTP decoder (which passes a request on only once its head is
/// whole), so that a request trickled in a byte at a time is timed from its first byte; and bounds what the decoder
/// holds of an unfinished head.
///
/// The decoder keeps a head until it is whole, up to llhttp's own 80 KiB, outside the inbound budget: 4,000 keyless
/// connections each holding 78 KB of an unfinished head took a server from 45 to 547 MiB (attacker round 4). The
/// gateway counts the bytes since it last received a part of a request, which are what the decoder holds; after each
/// read, past `maxHeadBytes` with the gateway waiting for a head, the request is answered 431 and the connection
/// closed.
final class HTTPJSONRequestStart: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    /// The gateway on the same pipeline, so the same event loop; released in `handlerRemoved`.
    private var gateway: HTTPJSONHandler?
    private var context: ChannelHandlerContext?
    /// The longest request head (request line and headers) the decoder may hold: twice the metadata limit, at least
    /// 32 KiB (nginx's default for a request's headers), so that the 431 for metadata answers any head within it.
    let maxHeadBytes: Int

    init(gateway: HTTPJSONHandler, maxHeaderSize: Int) {
        self.gateway = gateway
        self.maxHeadBytes = max(32 << 10, 2 * maxHeaderSize)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        gateway?.requestBytesArrived(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    /// After the decoder has had the read: a head still unfinished past `maxHeadBytes` is answered 431, and one past
    /// the untrusted allowance while the inbound budget (or keyless clients' share of it) is spent, 503.
    func channelReadComplete(context: ChannelHandlerContext) {
        gateway?.checkUnfinishedHead(limit: maxHeadBytes)
        context.fireChannelReadComplete()
    }

    /// Writes a whole response as bytes, below the HTTP encoder (which only answers requests whose head it has
    /// seen), then closes: for a head that never completed.
    func answerAndClose(_ response: String) {
        guard let context else { return }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: response))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        gateway = nil
        self.context = nil
    }
}
