public import ArgumentParser
public import CopsLinkTransport

/// `--tls`, `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-server-name`: how `copslink` and `copslink-load` reach a
/// server that serves TLS. Any of the file options turns TLS on. Without TLS, an API key is sent only to a loopback
/// address unless `--insecure-plaintext` allows it.
public struct ClientTLSOptions: ParsableArguments {
    @Flag(name: .customLong("tls"), help: "Connect with TLS, trusting the system's root certificates (unless --tls-ca).")
    public var enabled = false

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("Trust only this CA certificate (PEM) for the server.", valueName: "file"))
    public var caFile: String?

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp("Client certificate chain (PEM), for servers that require one.", valueName: "file"))
    public var certificateFile: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("Private key (PEM) of --tls-cert.", valueName: "file"))
    public var keyFile: String?

    @Option(
        name: .customLong("tls-server-name"),
        help: ArgumentHelp("The name the server's certificate must carry, if not the --server host.", valueName: "name"))
    public var serverName: String?

    @Flag(
        name: .customLong("insecure-plaintext"),
        help: "Send the API key without TLS to a server that is not on this machine (anyone on the network path can read it).")
    public var insecurePlaintext = false

    public init() {}

    /// The end of the error that refuses to send a key in plaintext.
    public static let plaintextAdvice = "use --tls or --insecure-plaintext"

    /// Long names and whether each takes a value (for option hoisting).
    public static let names: [String: Bool] = [
        "--tls": false, "--tls-ca": true, "--tls-cert": true, "--tls-key": true, "--tls-server-name": true,
        "--insecure-plaintext": false
    ]

    public var isEnabled: Bool { enabled || caFile != nil || certificateFile != nil || serverName != nil }

    public func validate() throws {
        guard (certificateFile == nil) == (keyFile == nil) else { throw ValidationError("--tls-cert and --tls-key go together.") }
    }

    /// Sets `configuration.tls` (and the server name) when TLS is on, and whether a key may go in plaintext.
    public func apply(to configuration: inout ClientConfiguration) throws {
        configuration.allowsPlaintextCredentials = insecurePlaintext
        guard isEnabled else { return }
        do {
            configuration.tls = try TLSFiles.client(ca: caFile, certificateChain: certificateFile, privateKey: keyFile)
        } catch {
            throw ValidationError("TLS files could not be loaded: \(error)")
        }
        configuration.tlsServerName = serverName
    }
}
