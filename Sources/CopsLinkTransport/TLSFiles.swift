import NIOSSL

/// TLS configurations from PEM files, as the executables' `--tls-*` flags name them.
public enum TLSFiles {
    /// A server presenting `certificateChain` (PEM, leaf first) with `privateKey` (PEM). With `clientCA`, every
    /// client must present a certificate issued by it (mutual TLS); without, clients are not asked for one.
    public static func server(certificateChain: String, privateKey: String, clientCA: String? = nil) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCA))
            // Clients are not named by host: check the chain, not a hostname.
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    /// A client trusting `ca` (PEM; the system's roots when nil), verifying the server's name, and presenting
    /// `certificateChain` and `privateKey` when both are given (for servers that require client certificates).
    public static func client(ca: String? = nil, certificateChain: String? = nil, privateKey: String? = nil) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let ca { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
        if let certificateChain, let privateKey {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateChain).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
        }
        return configuration
    }
}
