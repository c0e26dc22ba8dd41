public import CopsLinkMessages
public import CopsLinkCore

/// `copslink.rpc.v1.Health`: generated-style namespace with descriptors, service protocol and client.
public enum Health {
    public static let serviceName = "copslink.rpc.v1.Health"

    public enum Method {
        public static let check = MethodDescriptor(service: serviceName, method: "Check")
    }

    public protocol ServiceProtocol: RegistrableRPCService {
        func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse
    }

    public struct Client: Sendable {
        public let client: RPCClient
        public init(wrapping client: RPCClient) { self.client = client }

        public func check(_ request: HealthCheckRequest = HealthCheckRequest(), options: CallOptions = .defaults) async throws(RPCError) -> HealthCheckResponse {
            try await client.unary(Method.check, request: request, options: options).message
        }
    }
}

extension Health.ServiceProtocol {
    public func registerMethods(with router: inout RPCRouter) {
        router.registerUnary(Health.Method.check) { (request: HealthCheckRequest, context) in
            ServerResponse(message: try await self.check(request, context: context))
        }
    }
}

/// Serving status per service; the empty name stands for the whole server.
public actor HealthService: Health.ServiceProtocol {
    private var statuses: [String: HealthCheckResponse.ServingStatus]

    /// Every service in `services`, and the server as a whole, start SERVING.
    public init(services: [String]) {
        statuses = Dictionary(uniqueKeysWithValues: (services + [""]).map { ($0, .serving) })
    }

    public func setStatus(_ status: HealthCheckResponse.ServingStatus, for service: String = "") {
        statuses[service] = status
    }

    /// Marks everything NOT_SERVING (at the start of a graceful shutdown).
    public func enterShutdown() {
        for key in statuses.keys { statuses[key] = .notServing }
    }

    public func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        guard let status = statuses[request.service] else {
            throw RPCError(code: .notFound, message: "unknown service '\(ClientText.excerpt(request.service))'")
        }
        return HealthCheckResponse(status: status)
    }
}
