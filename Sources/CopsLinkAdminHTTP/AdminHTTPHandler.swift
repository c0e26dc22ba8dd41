import NIOCore
import NIOHTTP1

/// Answers one request per connection: routes GET /metrics, /healthz and /readyz, then closes. Event-loop bound.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminHTTPServer.Routes
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var answered = false

    init(routes: AdminHTTPServer.Routes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > AdminHTTPServer.maximumBodySize {
                respond(context: context, status: .payloadTooLarge, body: "request body too large\n")
            }
        case .end:
            guard let head else { return respond(context: context, status: .badRequest, body: "bad request\n") }
            route(context: context, head: head)
        }
    }

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        let known = ["/metrics", "/healthz", "/readyz"].contains(path)
        guard known else { return respond(context: context, status: .notFound, body: "not found\n") }
        guard head.method == .GET || head.method == .HEAD else {
            return respond(
                context: context, status: .methodNotAllowed, body: "method not allowed\n", extraHeaders: [("Allow", "GET, HEAD")])
        }
        let headOnly = head.method == .HEAD
        switch path {
        case "/metrics":
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 << 10)
            routes.metrics(&bytes)
            var buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            respond(
                context: context, status: .ok, body: buffer, contentType: "text/plain; version=0.0.4; charset=utf-8", headOnly: headOnly)
        case "/healthz":
            respond(context: context, status: .ok, body: "ok\n", headOnly: headOnly)
        default:
            if routes.isReady() {
                respond(context: context, status: .ok, body: "ready\n", headOnly: headOnly)
            } else {
                respond(context: context, status: .serviceUnavailable, body: "not ready\n", headOnly: headOnly)
            }
        }
    }

    private func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, body: String,
        extraHeaders: [(String, String)] = [], headOnly: Bool = false
    ) {
        respond(
            context: context, status: status, body: context.channel.allocator.buffer(string: body),
            contentType: "text/plain; charset=utf-8", extraHeaders: extraHeaders, headOnly: headOnly)
    }

    private func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, body: ByteBuffer, contentType: String,
        extraHeaders: [(String, String)] = [], headOnly: Bool = false
    ) {
        answered = true
        var headers = HTTPHeaders([
            ("Content-Type", contentType), ("Content-Length", String(body.readableBytes)), ("Connection", "close")
        ])
        headers.add(contentsOf: extraHeaders)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !headOnly { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension AdminHTTPHandler: Sendable {}
