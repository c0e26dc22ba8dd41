import CopsLinkCore
import CopsLinkMessages
import CopsLinkTesting
import CopsLinkWire
import Logging
import NIOCore
import NIOEmbedded
import Testing

@_spi(ConnectionHarness) @testable import CopsLinkTransport

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
            var configuration = ServerConfiguration()
            configuration.protocols = [.native]  // the handler is there from the start (the detector's case is below)
            try TCPServer.installConnectionHandlers(
                on: channel, configuration: configuration, dispatcher: CallDispatcher(router: RPCRouter()),
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

    /// Behind the protocol detector: the native handler it installs, and the HTTP/JSON gateway, are freed too.
    @Test(arguments: ["native", "http"])
    func handlersInstalledByTheDetectorAreFreedWhenTheConnectionCloses(_ chosen: String) throws {
        weak var handler: AnyObject?
        do {
            let channel = EmbeddedChannel()
            try TCPServer.installConnectionHandlers(
                on: channel, configuration: ServerConfiguration(), dispatcher: CallDispatcher(router: RPCRouter()),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
            var bytes = ByteBuffer()
            if chosen == "native" {
                Preface.write(to: &bytes)
                bytes.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
            } else {
                bytes.writeString("POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            }
            try channel.writeInbound(bytes)
            channel.embeddedEventLoop.run()
            handler =
                chosen == "native"
                ? try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
                : try channel.pipeline.syncOperations.handler(type: HTTPJSONHandler.self)
            #expect(handler != nil, "the detector installed the \(chosen) handler")
            #expect(throws: ChannelPipelineError.self) { try channel.pipeline.syncOperations.handler(type: ProtocolDetector.self) }
            _ = try channel.finish()
        }
        #expect(handler == nil, "the \(chosen) handler outlived its closed channel")
    }

    /// Regression (fuzz-connection, timeout): the idle check compared the system clock with a deadline on the event
    /// loop's clock; on a loop with a clock of its own it rescheduled itself at a passed deadline, forever.
    @Test func idleTimeoutRunsOnTheEventLoopsClock() throws {
        var configuration = ServerConfiguration()
        configuration.idleTimeout = .seconds(1)
        let channel = EmbeddedChannel()
        try TCPServer.installConnectionHandlers(
            on: channel, configuration: configuration, dispatcher: CallDispatcher(router: RPCRouter()),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        var bytes = ByteBuffer()
        Preface.write(to: &bytes)
        bytes.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
        try channel.writeInbound(bytes)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))

        var output = ByteBuffer()
        while var next = try channel.readOutbound(as: ByteBuffer.self) { output.writeBuffer(&next) }
        var decoder = FrameDecoder(expectsPreface: false)
        var goAway: GoAwayHeader?
        while case .frame(let frame)? = try decoder.decodeNext(&output) {
            if frame.type == .goAway { goAway = frame.header.readableBytesView.withUnsafeBytes { try? GoAwayHeader(serializedBytes: $0) } }
        }
        #expect(goAway?.code == .idleTimeout)
        #expect(!channel.isActive, "the idle connection is closed")
        _ = try? channel.finish()
    }

    @Test func clientConnectionHandlerIsFreedWhenTheConnectionCloses() throws {
        weak var handler: ClientConnectionHandler?
        do {
            let channel = EmbeddedChannel()
            let ready = channel.eventLoop.makePromise(of: PeerLimits.self)
            let added = ClientConnectionHandler(
                configuration: ClientConfiguration.forTesting(port: 1), ready: ready, state: ConnectionState())
            handler = added
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
