/// Names one RPC: `/package.Service/Method` on the wire.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// Fully qualified service name, e.g. `copslink.v1.AccountService`.
    public let service: String
    /// Method name, e.g. `GetAccount`.
    public let method: String
    /// The path sent in a REQUEST frame, built once: every call sends it.
    public let path: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
        self.path = "/\(service)/\(method)"
    }

    /// Parses `/package.Service/Method`; `nil` if the path has another shape.
    public init?(path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        self.init(service: String(parts[1]), method: String(parts[2]))
    }

    public var description: String { path }
}

/// How many messages each side of a call sends.
public enum MethodKind: String, Hashable, Sendable, CaseIterable {
    case unary
    case serverStreaming
    case clientStreaming
    case bidirectionalStreaming
}
