public import CopsLinkCore
public import NIOCore
import NIOHTTP1

/// The HTTP/JSON side of the server's port (PROTOCOL.md §16): NIOHTTP1 and the gateway handler, added to a
/// connection whose first bytes are an HTTP/1.1 request line.
public enum HTTPJSONGateway {
    /// Adds the HTTP/1.1 server handlers (with pipelining assistance, so requests are answered one at a time and in
    /// order, and malformed HTTP answered 400) and the gateway, on the channel's event loop.
    public static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, dispatcher: CallDispatcher, configuration: ServerConfiguration
    ) throws {
        try configure(pipeline, dispatcher: dispatcher, configuration: configuration, metrics: nil)
    }

    static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, dispatcher: CallDispatcher, configuration: ServerConfiguration,
        metrics: ServerMetrics?
    ) throws {
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try pipeline.addHandler(HTTPJSONHandler(dispatcher: dispatcher, configuration: configuration, metrics: metrics))
    }
}
