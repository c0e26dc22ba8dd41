import CopsLinkCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        var ipv4 = in_addr()
        if inet_pton(AF_INET, name, &ipv4) == 1 {
            return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127
        }
        var ipv6 = in6_addr()
        guard inet_pton(AF_INET6, name, &ipv6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: ipv6) { Array($0) }
        if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
        // ::ffff:127.x.y.z
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
    }
}
