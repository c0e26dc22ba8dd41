/// Names one RPC: `/package.Service/Method` on the wire.
///
/// Its names are kept in one shared object, built once per method: a descriptor travels with every call (in the
/// route, the server's context, the client's call), and a copy is then one reference instead of three strings.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    private final class Names: Sendable {
        let service: String
        let method: String
        let path: String
        let idempotency: Idempotency

        init(service: String, method: String, idempotency: Idempotency) {
            self.service = service
            self.method = method
            self.path = "/\(service)/\(method)"
            self.idempotency = idempotency
        }
    }

    private let names: Names

    /// Fully qualified service name, e.g. `copslink.v1.AccountService`.
    public var service: String { names.service }
    /// Method name, e.g. `GetAccount`.
    public var method: String { names.method }
    /// The path sent in a REQUEST frame, built once: every call sends it.
    public var path: String { names.path }
    /// What calling the method twice does, from the method's `option idempotency_level` in its .proto: a client
    /// may send again a call of a method with no side effects, or an idempotent one, that may have reached a server
    /// which failed before answering (`RoundRobinClientTransport`).
    public var idempotency: Idempotency { names.idempotency }

    /// protobuf's `MethodOptions.IdempotencyLevel`.
    public enum Idempotency: Sendable, Hashable {
        /// Calling it twice may do twice what it does.
        case unknown
        /// It changes nothing: reads.
        case noSideEffects
        /// Calling it twice does what calling it once does.
        case idempotent
    }

    public init(service: String, method: String, idempotency: Idempotency = .unknown) {
        names = Names(service: service, method: method, idempotency: idempotency)
    }

    /// Whether a call of this method may be sent again after it may have been processed.
    public var isSafeToRepeat: Bool { idempotency != .unknown }

    /// Descriptors are the same when they name the same method, whatever they say of it.
    public static func == (lhs: MethodDescriptor, rhs: MethodDescriptor) -> Bool { lhs.names === rhs.names || lhs.path == rhs.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }

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

    /// The client sends one request message (unary, server streaming), so it has no reason to hold its request
    /// stream open: the server's request timeout applies to such calls whatever their deadline.
    public var takesOneRequest: Bool { self == .unary || self == .serverStreaming }
}
