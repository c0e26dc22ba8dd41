import CopsLinkTestSupport
import Foundation
import Testing

@Suite("TLS from the command line")
struct TLSCLITests {
    @Test("copslink-server --tls-cert/--tls-key/--tls-ca serves mutual TLS; copslink connects with --tls-ca/--tls-cert/--tls-key")
    func mutualTLS() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        let server = try await ServerProcess.start(arguments: [
            "--demo", "--tls-cert", certificates.serverCertificate, "--tls-key", certificates.serverKey, "--tls-ca",
            certificates.caCertificate
        ])
        defer { server.stopInBackground(removingDatabase: true) }

        let withCertificate = try await copslink([
            "--server", server.address, "--tls-ca", certificates.caCertificate, "--tls-cert", certificates.clientCertificate,
            "--tls-key", certificates.clientKey, "--json", "account", "get", "demo-1"
        ])
        #expect(withCertificate.status == 0, "\(withCertificate)")
        #expect(try withCertificate.jsonObject()["account_number"] as? String == "22-8761")

        let withoutCertificate = try await copslink([
            "--server", server.address, "--tls-ca", certificates.caCertificate, "--timeout", "5", "health"
        ])
        #expect(withoutCertificate.status == 14, "\(withoutCertificate)")
        #expect(withoutCertificate.stderr.contains("UNAVAILABLE"))

        let plaintext = try await copslink(["--server", server.address, "--timeout", "5", "health"])
        #expect(plaintext.status == 14, "\(plaintext)")

        let halfConfigured = try await copslink(["--server", server.address, "--tls-cert", certificates.clientCertificate, "health"])
        #expect(halfConfigured.status == 64, "--tls-cert without --tls-key is a usage error: \(halfConfigured)")
    }
}
