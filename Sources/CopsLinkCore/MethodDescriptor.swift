/// Names one RPC: `/package.Service/Method` on the wire.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// Fully qualified service name, e.g. `copslink.v1.AccountService`.
    public var service: String
    /// Method name, e.g. `GetAccount`.
    public var method: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
    }

    /// Parses `/package.Service/Method`; `nil` if the path has another shape.
    public init?(path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        self.init(service: String(parts[1]), method: String(parts[2]))
    }

    /// The path sent in a REQUEST frame.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { path }
}

/// How many messages each side of a call sends.
public enum MethodKind: String, Hashable, Sendable, CaseIterable {
    case unary
    case serverStreaming
    case clientStreaming
    case bidirectionalStreaming
}
