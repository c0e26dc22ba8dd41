import Synchronization

/// Turns a bearer token into a `Caller`.
public protocol CallerAuthenticator: Sendable {
    /// The caller the token stands for, or nil when no valid credential matches it (unknown, malformed or revoked:
    /// the caller is not told which). Throws only when the answer cannot be known (store unavailable).
    func authenticate(bearerToken: String) async throws -> Caller?
}

/// Which role each method needs.
public struct AccessPolicy: Sendable {
    /// Methods anyone may call, without credentials (health checks).
    public var publicMethods: Set<String>
    /// The role each method needs, by path.
    public var requiredRoles: [String: Role]
    /// The role of a method named in neither: `admin`, so that a method added without a policy entry is closed.
    public var defaultRole: Role = .admin
    /// Streaming calls of the public methods that may run at once, server-wide (0: no limit). They are the calls a
    /// client without a key can hold open (a gRPC health Watch runs until its client cancels it, a reflection stream
    /// while it asks now and then), so without a bound 10,000 connections of 100 calls each could hold a million of
    /// them. Unary public calls (health Check, what probes call) are not counted here: they end as soon as their
    /// request has arrived, and the transports bound those still waiting for it
    /// (`CallDispatcher.maxOpenCallsAwaitingRequest`), so held Checks cannot crowd out a probe's. Default 1,000.
    public var maxConcurrentPublicCalls = 1_000
    /// The largest request message of a public method: their requests are small (a service name, a symbol), and a
    /// client without a key must not make the server hold large ones. The server applies it to its routes with
    /// `RPCRouter.limitRequestMessages`. Default 4 KiB.
    public var maxPublicRequestMessageSize = 4 << 10
    /// Calls of one API key that may run at once, server-wide (0: no limit). The server-wide limit on running calls
    /// (`CallDispatcher.maxConcurrentCalls`) is shared by every client; without a share per key, one key that opens
    /// connections faster than the server finishes their calls (a flood of writes on connections closed and opened
    /// again) held all 10,000 and every other key's calls were refused RESOURCE_EXHAUSTED. The server sets it to a
    /// quarter of that limit (`--max-calls-per-key`). Default 2,500.
    public var maxConcurrentCallsPerKey = 2_500

    public init(publicMethods: Set<String> = [], requiredRoles: [String: Role] = [:]) {
        self.publicMethods = publicMethods
        self.requiredRoles = requiredRoles
    }

    /// The role `path` needs, or nil for a public method.
    public func requiredRole(forPath path: String) -> Role? {
        if publicMethods.contains(path) { return nil }
        return requiredRoles[path] ?? defaultRole
    }
}

/// Authentication and authorization of every call, before the handler runs: `authorization: Bearer TOKEN` metadata
/// → `Caller` in the context, UNAUTHENTICATED without a valid credential, PERMISSION_DENIED without the role.
public struct AuthInterceptor: ServerInterceptor {
    public static let metadataKey = "authorization"

    let authenticator: any CallerAuthenticator
    let policy: AccessPolicy
    /// Streaming public calls running now, across every connection this interceptor serves.
    private let publicStreamingCalls = RunningCallCount()
    /// Calls running now, by key id (`policy.maxConcurrentCallsPerKey`).
    private let callsByKey = KeyedCallCount()

    public init(authenticator: any CallerAuthenticator, policy: AccessPolicy) {
        self.authenticator = authenticator
        self.policy = policy
    }

    public var authenticatesCallers: Bool { true }

    public func intercept(
        context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
    ) async throws -> CallOutcome {
        let path = context.descriptor.path
        guard let role = policy.requiredRole(forPath: path) else {
            guard context.methodKind != .unary else { return try await next(context) }
            let limit = policy.maxConcurrentPublicCalls
            guard publicStreamingCalls.enter(limit: limit) else {
                throw RPCError(
                    code: .resourceExhausted,
                    message:
                        "the server already runs \(limit) streaming calls of its open methods (health Watch, reflection); retry later, or poll Health/Check rather than watching"
                )
            }
            defer { publicStreamingCalls.leave() }
            return try await next(context)
        }
        guard let value = context.metadata[text: Self.metadataKey] else {
            throw RPCError(code: .unauthenticated, message: "\(path) needs an API key: send 'authorization: Bearer <key>' metadata")
        }
        guard let token = Self.bearerToken(value) else {
            throw RPCError(code: .unauthenticated, message: "the authorization metadata must read 'Bearer <key>'")
        }
        let caller: Caller?
        do {
            caller = try await authenticator.authenticate(bearerToken: token)
        } catch {
            // A call cancelled while its key was read (its client went away, its deadline passed) is cancelled:
            // nothing is wrong with the key store, and UNAVAILABLE would say so in the log and the metrics.
            if error is CancellationError || Task.isCancelled { throw RPCError(handlerError: CancellationError()) }
            if let error = error as? RPCError { throw error }  // the authenticator's own refusal (a limit)
            throw RPCError(code: .unavailable, message: "credentials cannot be checked right now; retry later")
        }
        // A call whose client went away while its key was read (its connection closed, it was cancelled) goes no
        // further: with handlers on the event loop this is the first point after the call started where it can.
        if Task.isCancelled { throw RPCError(handlerError: CancellationError()) }
        guard let caller else { throw RPCError(code: .unauthenticated, message: "the API key is not valid (unknown or revoked)") }
        guard caller.has(role) else {
            throw RPCError(code: .permissionDenied, message: "\(path) needs the '\(role)' role, which this API key lacks")
        }
        let limit = policy.maxConcurrentCallsPerKey
        guard limit == 0 || callsByKey.enter(caller.keyID, limit: limit) else {
            throw RPCError(
                code: .resourceExhausted,
                message: "API key \(caller.keyID) is running its limit of \(limit) calls on this server; retry later")
        }
        defer { if limit > 0 { callsByKey.leave(caller.keyID) } }
        var context = context
        context.caller = caller
        return try await next(context)
    }

    /// Calls of `keyID` running now through this interceptor (for tests and metrics).
    public func runningCalls(ofKey keyID: String) -> Int { callsByKey.count(keyID) }

    /// A valid, unrevoked key in `metadata`, whatever its roles: its caller may have the connection's bytes counted as
    /// trusted before its call runs. The same lookup (and cache) as `intercept`'s.
    public func acceptedCaller(_ metadata: Metadata) async -> Caller? {
        guard let value = metadata[text: Self.metadataKey], let token = Self.bearerToken(value) else { return nil }
        return try? await authenticator.authenticate(bearerToken: token)
    }

    /// The token of `Bearer TOKEN` (scheme case-insensitive, as in HTTP), or nil.
    static func bearerToken(_ value: String) -> String? {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingWhitespace()
        return token.isEmpty ? nil : String(token)
    }
}

/// A count of running calls with an upper bound, shared by every task that runs one.
public final class RunningCallCount: Sendable {
    private let running = Atomic<Int>(0)

    public init() {}

    /// Calls running now.
    public var count: Int { running.load(ordering: .relaxed) }

    /// Counts one more call, unless `limit` (above 0) are running already.
    public func enter(limit: Int) -> Bool {
        let before = running.add(1, ordering: .relaxed).oldValue
        guard limit > 0, before >= limit else { return true }
        running.subtract(1, ordering: .relaxed)
        return false
    }

    public func leave() {
        running.subtract(1, ordering: .relaxed)
    }
}

/// Counts of running calls by key, each with an upper bound. Only keys with calls running have an entry, so it holds
/// at most as many as calls run at once.
final class KeyedCallCount: Sendable {
    private let running = Mutex<[String: Int]>([:])

    func count(_ key: String) -> Int { running.withLock { $0[key] ?? 0 } }

    /// Counts one more call of `key`, unless `limit` of its calls are running already.
    func enter(_ key: String, limit: Int) -> Bool {
        running.withLock { running in
            let count = running[key, default: 0]
            guard count < limit else { return false }
            running[key] = count + 1
            return true
        }
    }

    func leave(_ key: String) {
        running.withLock { running in
            guard let count = running[key] else { return }
            running[key] = count > 1 ? count - 1 : nil
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var result = self
        while result.first == " " { result.removeFirst() }
        while result.last == " " { result.removeLast() }
        return result
    }
}
