import CopsLinkCodecs
import CopsLinkCore
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTransport
import Foundation
import NIOSSL
import Testing

@Suite("TLS and mutual TLS over loopback", .serialized)
struct TLSTests {
    /// A TLS server with the conformance service; `clientCA` makes it require client certificates.
    func withTLSServer<Result: Sendable>(
        _ certificates: TestCertificates, requireClientCertificates: Bool = false, _ body: (TCPServer) async throws -> Result
    ) async throws -> Result {
        var configuration = ServerConfiguration()
        configuration.tls = try TLSFiles.server(
            certificateChain: certificates.serverCertificate, privateKey: certificates.serverKey,
            clientCA: requireClientCertificates ? certificates.caCertificate : nil)
        var router = RPCRouter()
        ConformanceService().registerMethods(with: &router)
        return try await TCPServer.withServer(configuration: configuration, router: router, logger: quietLogger(), body)
    }

    func call(port: Int, host: String = "127.0.0.1", tls: TLSConfiguration?) async throws -> SimpleResponse {
        var configuration = ClientConfiguration(host: host, port: port)
        configuration.tls = tls
        configuration.connectTimeout = .seconds(5)
        return try await TCPClientTransport.withTransport(configuration: configuration) { transport in
            try await TestService.Client(wrapping: RPCClient(transport: transport))
                .unaryCall(SimpleRequest(responseSize: 100, payload: [1, 2, 3]), options: CallOptions(timeout: .seconds(10)))
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
            await expectRPCError(.unavailable) { _ = try await call(port: server.port!, tls: try TLSFiles.client(ca: certificates.caCertificate)) }
            // A client certificate from another CA is refused too.
            let rogue = try TLSFiles.client(
                ca: certificates.caCertificate, certificateChain: certificates.rogueClientCertificate, privateKey: certificates.rogueClientKey)
            await expectRPCError(.unavailable) { _ = try await call(port: server.port!, tls: rogue) }
        }
    }
}
