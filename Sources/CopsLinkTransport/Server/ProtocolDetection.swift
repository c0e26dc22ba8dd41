/// The protocols a server's port can speak. Each connection speaks one, chosen from its first bytes
/// (`ProtocolDetection`, PROTOCOL.md §2.1).
public enum ServerProtocol: String, Sendable, Hashable, CaseIterable {
    /// CopsLink's own framing: the preface `COPSLINK` and a version.
    case native
    /// HTTP/1.1 requests with JSON bodies (PROTOCOL.md §18).
    case http
    /// gRPC over HTTP/2 with prior knowledge (h2c), served by CopsLinkGRPC (PROTOCOL.md "gRPC over HTTP/2").
    case grpc

    /// The protocol's TLS ALPN identifier (PROTOCOL.md §2.1): `copslink/1`, `http/1.1`, `h2`.
    public var alpnIdentifier: String {
        switch self {
        case .native: "copslink/1"
        case .http: "http/1.1"
        case .grpc: "h2"
        }
    }

    /// The protocol an ALPN identifier names, if any.
    public init?(alpnIdentifier: String) {
        guard let named = Self.allCases.first(where: { $0.alpnIdentifier == alpnIdentifier }) else { return nil }
        self = named
    }

    /// What a TLS server offers, in its order of preference: gRPC clients insist on `h2`, CopsLink's own clients
    /// offer `copslink/1`, and `http/1.1` is what any other HTTPS client offers.
    public static func alpnIdentifiers(enabled: Set<ServerProtocol>) -> [String] {
        [ServerProtocol.grpc, .native, .http].filter(enabled.contains).map(\.alpnIdentifier)
    }
}

/// Which protocol a connection speaks, from the bytes it has sent so far: a pure rule, so that it is tested alone.
///
/// `C` (the first byte of the CopsLink preface) is the native protocol at once, so the native preface keeps its
/// byte-by-byte check (§2.1). The start of an HTTP/1.1 request line (`GET `, `POST `, `PUT `, `DELETE `, `HEAD `,
/// `OPTIONS `, `PATCH `, method and space) is HTTP when it is enabled; while the bytes are still a prefix of one, the
/// rule waits for more. The HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, all 24 bytes) is gRPC when it is
/// enabled. Anything else goes to the native protocol, which answers it with its readable rejection line; on a port
/// that does not speak the native protocol it is `notServed`, and the connection gets `notServedLine` and is closed.
public enum ProtocolDetection: Equatable, Sendable {
    case needMoreBytes
    case detected(ServerProtocol)
    /// The bytes can be none of the enabled protocols, and the native protocol, which would answer them, is off.
    case notServed

    static let httpMethods: [[UInt8]] = ["GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH "].map { Array($0.utf8) }

    /// The HTTP/2 connection preface a client sends first (RFC 9113 §3.4).
    static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public static func decide(_ bytes: some Collection<UInt8>, enabled: Set<ServerProtocol>) -> ProtocolDetection {
        guard let first = bytes.first else { return .needMoreBytes }
        let fallback: ProtocolDetection = enabled.contains(.native) ? .detected(.native) : .notServed
        if first == UInt8(ascii: "C") { return fallback }
        var candidates: [([UInt8], ServerProtocol)] = []
        if enabled.contains(.http) { candidates += httpMethods.map { ($0, .http) } }
        if enabled.contains(.grpc) { candidates.append((http2Preface, .grpc)) }
        var couldBeMore = false
        for (start, chosen) in candidates {
            let compared = min(start.count, bytes.count)
            guard bytes.prefix(compared).elementsEqual(start.prefix(compared)) else { continue }
            if compared == start.count { return .detected(chosen) }
            couldBeMore = true
        }
        return couldBeMore ? .needMoreBytes : fallback
    }

    /// What a `notServed` connection reads before the server closes it (PROTOCOL.md §2.1).
    public static func notServedLine(enabled: Set<ServerProtocol>) -> String {
        let names = ServerProtocol.allCases.filter(enabled.contains).map(\.rawValue).joined(separator: ", ")
        return "copslink: this port does not speak the CopsLink protocol; it speaks \(names); closing\n"
    }
}
