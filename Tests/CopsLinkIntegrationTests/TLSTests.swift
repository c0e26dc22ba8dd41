import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkGRPC
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing

@Suite("TLS and mutual TLS over loopback", .serialized)
struct TLSTests {
    /// A TLS server with the conformance service; `clientCA` makes it require client certificates.
    func withTLSServer<Result: Sendable>(
        _ certificates: TestCertificates, requireClientCertificates: Bool = false, rsa: Bool = false,
        adjust: (inout TLSConfiguration) -> Void = { _ in }, _ body: (TCPServer) async throws -> Result
    ) async throws -> Result {
        var configuration = ServerConfiguration()
        var tls = try TLSFiles.server(
            certificateChain: rsa ? certificates.rsaServerCertificate : certificates.serverCertificate,
            privateKey: rsa ? certificates.rsaServerKey : certificates.serverKey,
            clientCA: requireClientCertificates ? certificates.caCertificate : nil)
        adjust(&tls)
        configuration.tls = tls
        var router = RPCRouter()
        ConformanceService().registerMethods(with: &router)
        return try await TCPServer.withServer(
            configuration: configuration, router: router, logger: quietLogger(), installers: [.grpc: GRPCServer.installer], body)
    }

    /// A bare TLS client offering `protocols` by ALPN: the protocol the server chose, once the handshake is done.
    func negotiatedProtocol(port: Int, offering protocols: [String], ca: String) async throws -> String? {
        var tls = try TLSFiles.client(ca: ca)
        tls.applicationProtocols = protocols
        let context = try NIOSSLContext(configuration: tls)
        let negotiated = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: String?.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(ALPNRecorder(negotiated: negotiated))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        return try await negotiated.futureResult.get()
    }

    /// Completes its promise with the ALPN protocol of the TLS handshake.
    final class ALPNRecorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let negotiated: EventLoopPromise<String?>
        init(negotiated: EventLoopPromise<String?>) { self.negotiated = negotiated }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted(let chosen) = event as? TLSUserEvent { negotiated.succeed(chosen) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { negotiated.fail(error) }
    }

    /// ALPN on the shared port (PROTOCOL.md §2.1): a gRPC client's `h2` is chosen over anything else it offers,
    /// CopsLink's `copslink/1` and HTTPS clients' `http/1.1` get theirs, and a client that offers none is served by
    /// the first bytes it sends (the CopsLink client's calls keep working either way).
    @Test func alpnChoosesEachClientsProtocol() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        try await withTLSServer(certificates) { server in
            let port = server.port!
            let ca = certificates.caCertificate
            #expect(try await negotiatedProtocol(port: port, offering: ["h2", "http/1.1"], ca: ca) == "h2")
            #expect(try await negotiatedProtocol(port: port, offering: ["copslink/1"], ca: ca) == "copslink/1")
            #expect(try await negotiatedProtocol(port: port, offering: ["http/1.1"], ca: ca) == "http/1.1")
            #expect(try await negotiatedProtocol(port: port, offering: [], ca: ca) == nil)
            let answer = try await call(port: port, tls: try TLSFiles.client(ca: ca))
            #expect(answer.payload?.count == 100)
        }
    }

    func call(port: Int, host: String = "127.0.0.1", tls: TLSConfiguration?) async throws -> SimpleResponse {
        // Its connect timeout and deadline are generous: with the whole suite on two cores a TLS handshake once took
        // longer than 5 s, and on a slower machine a call passed 10 s while connecting.
        var configuration = ClientConfiguration.forTesting(port: port, host: host)
        configuration.tls = tls
        return try await TCPClientTransport.withTransport(configuration: configuration) { transport in
            try await TestService.Client(wrapping: RPCClient(transport: transport))
                .unaryCall(SimpleRequest(responseSize: 100, payload: [1, 2, 3]), options: CallOptions(timeout: .seconds(60)))
        }
    }

    @Test func callsWorkOverTLSByIPAddressAndByName() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        try await withTLSServer(certificates) { server in
            let tls = try TLSFiles.client(ca: certificates.caCertificate)
            let byIP = try await call(port: server.port!, tls: tls)
            #expect(byIP.payload?.count == 100)
            let byName = try await call(port: server.port!, host: "localhost", tls: tls)
            #expect(byName.receivedSize == 3)
        }
    }

    /// Closing a TLS transport waits at most a second for the server's `close_notify`, not NIOSSL's 5 s: a server that
    /// reads nothing more after the handshake (here one that stops reading; in the field, one whose reads a flood of
    /// keyless connections holds back) made `copslink --timeout 10` return after 16 s.
    @Test func closingATLSConnectionWaitsAtMostASecondForTheServer() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        let tls = try TLSFiles.server(certificateChain: certificates.serverCertificate, privateKey: certificates.serverKey)
        let context = try NIOSSLContext(configuration: tls)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(SettingsThenDeaf())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        var configuration = ClientConfiguration.forTesting(port: listener.localAddress!.port!)
        configuration.tls = try TLSFiles.client(ca: certificates.caCertificate)
        let transport = TCPClientTransport(configuration: configuration)
        await expectRPCError(.deadlineExceeded) {
            _ = try await Health.Client(wrapping: RPCClient(transport: transport))
                .check(HealthCheckRequest(), options: CallOptions(timeout: .seconds(2)))
        }
        let start = ContinuousClock.now
        await transport.close()
        let closing = ContinuousClock.now - start
        #expect(closing >= .milliseconds(900) && closing < .seconds(4), "waited \(closing) for close_notify")
    }

    /// Answers the client's preface with SETTINGS, then reads nothing more: no call is answered, and the client's
    /// `close_notify` is never read, so never answered.
    final class SettingsThenDeaf: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private var answered = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !answered else { return }
            answered = true
            var settings = context.channel.allocator.buffer(capacity: 64)
            settings.writeFrame(.settings, header: ConnectionLimits().settingsHeader, payload: NoMessage.payload)
            context.writeAndFlush(NIOAny(settings), promise: nil)
            context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
        }
    }

    @Test func aServerThatTheClientDoesNotTrustIsRefused() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        try await withTLSServer(certificates) { server in
            let error = await expectRPCError(.unavailable) {
                _ = try await call(port: server.port!, tls: try TLSFiles.client(ca: certificates.otherCACertificate))
            }
            #expect(error?.message.isEmpty == false)
            // A plaintext client gets no answer either, and the server keeps serving TLS clients.
            await expectRPCError(.unavailable) { _ = try await call(port: server.port!, tls: nil) }
            let fine = try await call(port: server.port!, tls: try TLSFiles.client(ca: certificates.caCertificate))
            #expect(fine.payload?.count == 100)
        }
    }

    @Test func mutualTLSAdmitsOnlyClientsWithACertificateFromTheCA() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        try await withTLSServer(certificates, requireClientCertificates: true) { server in
            let withCertificate = try TLSFiles.client(
                ca: certificates.caCertificate, certificateChain: certificates.clientCertificate, privateKey: certificates.clientKey)
            let answer = try await call(port: server.port!, tls: withCertificate)
            #expect(answer.payload?.count == 100)
            await expectRPCError(.unavailable) {
                _ = try await call(port: server.port!, tls: try TLSFiles.client(ca: certificates.caCertificate))
            }
            // A client certificate from another CA is refused too.
            let rogue = try TLSFiles.client(
                ca: certificates.caCertificate, certificateChain: certificates.rogueClientCertificate,
                privateKey: certificates.rogueClientKey)
            await expectRPCError(.unavailable) { _ = try await call(port: server.port!, tls: rogue) }
        }
    }

    /// With an RSA server key, so that the RSA key exchange (no forward secrecy) would be possible if allowed.
    @Test(arguments: [false, true])
    func clientsLimitedToOldVersionsOrSuitesWithoutForwardSecrecyAreRefused(rsa: Bool) async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        try await withTLSServer(certificates, rsa: rsa) { server in
            // TLS 1.2 with the allowed suites works (so the refusals below are about the version or the suite).
            var tls12 = try TLSFiles.client(ca: certificates.caCertificate)
            tls12.maximumTLSVersion = .tlsv12
            #expect(try await call(port: server.port!, tls: tls12).payload?.count == 100)

            var tls11 = try TLSFiles.client(ca: certificates.caCertificate)
            tls11.minimumTLSVersion = .tlsv1
            tls11.maximumTLSVersion = .tlsv11
            tls11.cipherSuites = "ALL"
            await expectRPCError(.unavailable) { _ = try await call(port: server.port!, tls: tls11) }

            for weak: [NIOTLSCipher] in [
                [.TLS_RSA_WITH_AES_128_GCM_SHA256, .TLS_RSA_WITH_AES_256_GCM_SHA384],  // no forward secrecy
                [.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, .TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]  // forward-secret, not AEAD
            ] {
                var client = try TLSFiles.client(ca: certificates.caCertificate)
                client.maximumTLSVersion = .tlsv12
                client.cipherSuiteValues = weak
                await expectRPCError(.unavailable) { _ = try await call(port: server.port!, tls: client) }
            }
        }
    }

    @Test func aServerOfferingOnlySuitesWithoutForwardSecrecyIsRefusedByTheClient() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        let weaken: (inout TLSConfiguration) -> Void = { tls in
            tls.maximumTLSVersion = .tlsv12
            tls.cipherSuiteValues = [.TLS_RSA_WITH_AES_128_GCM_SHA256, .TLS_RSA_WITH_AES_256_GCM_SHA384]
        }
        try await withTLSServer(certificates, rsa: true, adjust: weaken) { server in
            await expectRPCError(.unavailable) {
                _ = try await call(port: server.port!, tls: try TLSFiles.client(ca: certificates.caCertificate))
            }
        }
    }
}
