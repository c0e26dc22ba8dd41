public import CopsLinkCore

/// Authenticates a call that carries `authorization` metadata (any value), as `AuthInterceptor` would a valid key;
/// calls without it run with no caller. Before a call runs (`acceptedCaller`, the early key check) it accepts only
/// `Bearer k`, so that a test can send a key the early check refuses.
public struct MetadataAuthenticator: ServerInterceptor {
    public init() {}

    public var authenticatesCallers: Bool { true }

    public func intercept(
        context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
    ) async throws -> CallOutcome {
        var context = context
        if context.metadata[text: "authorization"] != nil { context.caller = Caller(tenant: "t", roles: [.read], keyID: "k") }
        return try await next(context)
    }

    public func acceptedCaller(_ metadata: Metadata) async -> Caller? {
        metadata[text: "authorization"] == "Bearer k" ? Caller(tenant: "t", roles: [.read], keyID: "k") : nil
    }
}
