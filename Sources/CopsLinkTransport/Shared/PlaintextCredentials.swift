public import CopsLinkCore
import NIOCore

/// A client does not send a bearer key where anyone on the path can read it: over plaintext TCP to a host other
/// than this machine, a call carrying `authorization` metadata is refused before anything is sent, unless the
/// configuration allows it (`ClientConfiguration.allowsPlaintextCredentials`). gRPC refuses call credentials on an
/// insecure channel the same way.
extension ClientConfiguration {
    /// Why a call with `metadata` may not be sent over this configuration, or nil when it may. `advice` ends the
    /// message, saying how to proceed in the caller's terms (flags of a command-line tool, say).
    public func plaintextCredentialsRefusal(
        metadata: Metadata, advice: String = "configure TLS, or set allowsPlaintextCredentials"
    ) -> RPCError? {
        guard tls == nil, !allowsPlaintextCredentials, !metadata[AuthInterceptor.metadataKey].isEmpty,
            !Self.isLoopback(host: host)
        else { return nil }
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return RPCError(code: .failedPrecondition, message: "refusing to send an API key in plaintext to \(address); \(advice)")
    }

    /// This machine: `localhost`, 127.0.0.0/8, `::1` (and 127.0.0.0/8 mapped into IPv6). Other names are not
    /// resolved: a name that happens to point at this machine still needs TLS or the explicit permission.
    public static func isLoopback(host: String) -> Bool {
        let name = host.lowercased()
        if name == "localhost" || name == "localhost." { return true }
        // Numeric addresses only, in their canonical text form (inet_ntop): `0:0::1` is `::1`.
        guard let address = try? SocketAddress(ipAddress: name, port: 0), let canonical = address.ipAddress else { return false }
        switch address.protocol {
        case .inet: return canonical.hasPrefix("127.")
        case .inet6: return canonical == "::1" || canonical.hasPrefix("::ffff:127.")
        default: return false
        }
    }
}
