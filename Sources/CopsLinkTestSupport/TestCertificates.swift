import Foundation

/// Certificates a test makes for itself with the `openssl` command (EC P-256, valid two days): a CA, a server
/// certificate for `localhost` and `127.0.0.1`, a client certificate, and an unrelated CA for negative tests.
public struct TestCertificates: Sendable {
    public let directory: String
    public var caCertificate: String { "\(directory)/ca.pem" }
    public var serverCertificate: String { "\(directory)/server.pem" }
    public var serverKey: String { "\(directory)/server.key" }
    /// The same server names with an RSA-2048 key, for tests of the RSA key exchange (no forward secrecy), which
    /// an EC key cannot use.
    public var rsaServerCertificate: String { "\(directory)/server-rsa.pem" }
    public var rsaServerKey: String { "\(directory)/server-rsa.key" }
    public var clientCertificate: String { "\(directory)/client.pem" }
    public var clientKey: String { "\(directory)/client.key" }
    /// A CA that issued none of the above.
    public var otherCACertificate: String { "\(directory)/other-ca.pem" }
    /// A client certificate issued by the other CA.
    public var rogueClientCertificate: String { "\(directory)/rogue.pem" }
    public var rogueClientKey: String { "\(directory)/rogue.key" }

    /// Generates the files in a fresh temporary directory.
    public static func generate() async throws -> TestCertificates {
        try await offCooperativePool {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-tls-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let certificates = TestCertificates(directory: directory)
            try certificates.make()
            return certificates
        }
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private func make() throws {
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try openssl(
                ["req", "-x509"] + curve + [
                    "-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=CopsLink test \(ca)",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
                ])
        }
        let rsa = ["-newkey", "rsa:2048", "-nodes"]
        for (name, issuer, key, extensions) in [
            ("server", "ca", curve, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("server-rsa", "ca", rsa, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("client", "ca", curve, "subjectAltName=DNS:copslink-test-client\nextendedKeyUsage=clientAuth\n"),
            ("rogue", "other-ca", curve, "subjectAltName=DNS:copslink-test-client\nextendedKeyUsage=clientAuth\n")
        ] {
            try Data(extensions.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name).ext"))
            try openssl(["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try openssl([
                "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key", "-CAcreateserial", "-out",
                "\(name).pem",
                "-days", "2", "-extfile", "\(name).ext"
            ])
        }
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        let errors = makePipe()
        process.standardError = errors
        try spawn(process)
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError.commandFailed("openssl \(arguments.joined(separator: " ")): \(String(decoding: output, as: UTF8.self))")
        }
    }
}
