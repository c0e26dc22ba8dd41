public import NIOSSL

/// TLS configurations from PEM files, as the executables' `--tls-*` flags name them.
///
/// Both ends speak TLS 1.2 or 1.3 only, and TLS 1.2 only with forward-secret AEAD suites (ECDHE key exchange,
/// AES-GCM or ChaCha20-Poly1305): a recorded session cannot be decrypted later with a stolen server key, and no
/// CBC or RSA-key-exchange suite is offered or accepted. TLS 1.3 suites are all forward-secret AEAD already.
public enum TLSFiles {
    /// The TLS 1.2 suites offered and accepted, strongest first.
    public static let tls12CipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    ]

    /// Applies the version floor and the suite list to `configuration`.
    public static func harden(_ configuration: inout TLSConfiguration) {
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = tls12CipherSuites
    }

    /// A server presenting `certificateChain` (PEM, leaf first) with `privateKey` (PEM). With `clientCA`, every
    /// client must present a certificate issued by it (mutual TLS); without, clients are not asked for one.
    public static func server(certificateChain: String, privateKey: String, clientCA: String? = nil) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem)))
        harden(&configuration)
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
        harden(&configuration)
        configuration.certificateVerification = .fullVerification
        if let ca { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
        if let certificateChain, let privateKey {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateChain).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
        }
        return configuration
    }
}
