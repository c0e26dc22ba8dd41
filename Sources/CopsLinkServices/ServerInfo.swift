public import CopsLinkMessages
public import CopsLinkCore

/// `copslink.rpc.v1.ServerInfo`: lists the services and methods a server serves, its versions and limits.
public enum ServerInfo {
    public static let serviceName = "copslink.rpc.v1.ServerInfo"

    public enum Method {
        public static let describe = MethodDescriptor(service: serviceName, method: "Describe")
    }

    public struct Client: Sendable {
        public let client: RPCClient
        public init(wrapping client: RPCClient) { self.client = client }

        public func describe(options: CallOptions = .defaults) async throws(RPCError) -> ServerInfoResponse {
            try await client.unary(Method.describe, request: ServerInfoRequest(), options: options).message
        }
    }

    /// Registers `Describe` last, so that the answer lists every method of `router`, this one included.
    public static func register(
        into router: inout RPCRouter, serverVersion: String, protocolVersions: [UInt32], limits: SettingsHeader?
    ) {
        var services: [String: [MethodInfo]] = [:]
        for route in router.methods {
            services[route.descriptor.service, default: []].append(
                MethodInfo(name: route.descriptor.method, kind: route.kind, requestType: route.requestType, responseType: route.responseType))
        }
        services[serviceName, default: []].append(
            MethodInfo(name: Method.describe.method, kind: .unary, requestType: ServerInfoRequest.protoName, responseType: ServerInfoResponse.protoName))
        let response = ServerInfoResponse(
            serverVersion: serverVersion, protocolVersions: protocolVersions,
            services: services.keys.sorted().map { ServiceInfo(name: $0, methods: services[$0]!) },
            limits: limits)
        router.registerUnary(Method.describe) { (_: ServerInfoRequest, _) in ServerResponse(message: response) }
    }
}
