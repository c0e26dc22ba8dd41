public import CopsLinkTransport
import Glibc
import NIOCore

/// The instances `--server` names, each as the configuration of one connection: a `host:port` is one instance, and a
/// host name that resolves to several addresses is one instance per address (a service's instances behind one DNS
/// name, as gRPC's round-robin policy treats them). Names are resolved once, when the tool starts.
public enum ServerInstances {
    /// One configuration per instance, each `base` with its host and port replaced. An instance found through a name
    /// keeps that name for TLS (`tlsServerName`, unless `base` sets one), so the certificate is checked against the
    /// name that was asked for. A name whose addresses are all loopback (`localhost`: 127.0.0.1 and ::1) is this
    /// machine, one server, and stays one instance; so does a name that does not resolve, which then fails to connect
    /// with the resolver's error as before.
    public static func configurations(
        for addresses: [(host: String, port: Int)], base: ClientConfiguration,
        resolve: (String) -> [String] = ServerInstances.addresses(of:)
    ) -> [ClientConfiguration] {
        var instances: [ClientConfiguration] = []
        for address in addresses {
            var found = isNumeric(address.host) ? [] : resolve(address.host)
            if found.allSatisfy(ClientConfiguration.isLoopback(host:)) { found = [] }
            guard found.count > 1 else {
                instances.append(with(base, host: address.host, port: address.port, serverName: nil))
                continue
            }
            for ip in found {
                instances.append(with(base, host: ip, port: address.port, serverName: address.host))
            }
        }
        return instances
    }

    /// Every distinct address `name` resolves to for a TCP connection (IPv4 and IPv6, in the resolver's order), as
    /// numeric text; empty when it does not resolve.
    public static func addresses(of name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            // `ai_addr` points at `ai_addrlen` bytes of a sockaddr of the family `ai_family`, valid until freeaddrinfo.
            if let socketAddress = current.pointee.ai_addr,
                let text = numericHost(socketAddress, length: current.pointee.ai_addrlen),
                !found.contains(text)
            {
                found.append(text)
            }
            entry = current.pointee.ai_next
        }
        return found
    }

    private static func numericHost(_ address: UnsafeMutablePointer<sockaddr>, length: socklen_t) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func isNumeric(_ host: String) -> Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }

    private static func with(_ base: ClientConfiguration, host: String, port: Int, serverName: String?) -> ClientConfiguration {
        var configuration = base
        configuration.host = host
        configuration.port = port
        if configuration.tlsServerName == nil { configuration.tlsServerName = serverName }
        return configuration
    }
}
