public import CopsLinkCore
public import CopsLinkMessages
public import CopsLinkServices

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
