import CopsLinkCodecs
import CopsLinkCore
@_spi(ConnectionHarness) @testable import CopsLinkTransport
import CopsLinkWire
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// A closed connection leaves nothing behind. Regression tests for the leak the fuzz-connection fuzzer found
/// (LeakSanitizer, FUZZING.md): the connection handlers held their own context and a loop-bound reference to
/// themselves, so every connection's handler, contexts and pipeline outlived it.
@Suite("Connection lifetime")
struct ConnectionLifetimeTests {
    enum Progress: String, CaseIterable { case nothing, preface, handshake }

    @Test(arguments: Progress.allCases)
    func serverConnectionHandlerIsFreedWhenTheConnectionCloses(_ progress: Progress) throws {
        weak var handler: ServerConnectionHandler?
        do {
            let channel = EmbeddedChannel()
            try TCPServer.installConnectionHandlers(
                on: channel, configuration: ServerConfiguration(), dispatcher: CallDispatcher(router: RPCRouter()),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            handler = try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
            var bytes = ByteBuffer()
            if progress != .nothing { Preface.write(to: &bytes) }
            if progress == .handshake { bytes.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload) }
            try channel.writeInbound(bytes)
            channel.embeddedEventLoop.run()
            #expect(handler != nil, "the open channel holds its handler")
            _ = try channel.finish()
        }
        #expect(handler == nil, "the server connection handler outlived its closed channel")
    }

    @Test func clientConnectionHandlerIsFreedWhenTheConnectionCloses() throws {
        weak var handler: ClientConnectionHandler?
        do {
            let channel = EmbeddedChannel()
            let ready = channel.eventLoop.makePromise(of: PeerLimits.self)
            let added = ClientConnectionHandler(configuration: ClientConfiguration(host: "127.0.0.1", port: 1), ready: ready, state: ConnectionState())
            handler = added
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(expectsPreface: false)))
            try channel.pipeline.syncOperations.addHandler(added)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            var settings = ByteBuffer()
            settings.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
            try channel.writeInbound(settings)
            channel.embeddedEventLoop.run()
            _ = try channel.finish()
        }
        #expect(handler == nil, "the client connection handler outlived its closed channel")
    }
}
