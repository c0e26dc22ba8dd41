public import CopsLinkCore
public import CopsLinkMessages
public import CopsLinkServices

extension ServerInfo {
    /// Registers `Describe` last, so that the answer lists every method of `router`, this one included. Not a
    /// `ServiceProtocol` conformance a caller builds: the answer is computed from the router it is registered with.
    public static func register(
        into router: inout RPCRouter, serverVersion: String, protocolVersions: [UInt32], limits: SettingsHeader?
    ) {
        var services: [String: [MethodInfo]] = [:]
        for route in router.methods {
            services[route.descriptor.service, default: []].append(
                MethodInfo(
                    name: route.descriptor.method, kind: route.kind, requestType: route.requestType, responseType: route.responseType))
        }
        for method in ServerInfo.methods {
            services[serviceName, default: []].append(
                MethodInfo(
                    name: method.descriptor.method, kind: method.kind, requestType: method.requestType.protoName,
                    responseType: method.responseType.protoName))
        }
        let response = ServerInfoResponse(
            serverVersion: serverVersion, protocolVersions: protocolVersions,
            services: services.keys.sorted().map { ServiceInfo(name: $0, methods: services[$0]!) },
            limits: limits)
        ServerInfoService(response: response).registerMethods(with: &router)
    }
}

/// Answers `Describe` with the response `ServerInfo.register` computed.
private struct ServerInfoService: ServerInfo.ServiceProtocol {
    let response: ServerInfoResponse

    func describe(_ request: ServerInfoRequest, context: ServerContext) async throws -> ServerInfoResponse { response }
}
