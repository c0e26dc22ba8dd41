public import CopsLinkCore

/// One RPC as proto/ declares it: what tests, fuzzers and tools iterate over instead of hand-written lists.
/// Each generated service enum lists its own as `methods`; `ServiceCatalog` holds them all.
public struct MethodSchema: Sendable {
    public let descriptor: MethodDescriptor
    public let kind: MethodKind
    public let requestType: any RPCMessage.Type
    public let responseType: any RPCMessage.Type

    public init(
        _ descriptor: MethodDescriptor, _ kind: MethodKind, request: any RPCMessage.Type, response: any RPCMessage.Type
    ) {
        self.descriptor = descriptor
        self.kind = kind
        self.requestType = request
        self.responseType = response
    }
}

/// One service of proto/ and its methods, in declaration order.
public struct ServiceSchema: Sendable {
    /// Fully qualified, e.g. `copslink.v1.AccountService`.
    public let name: String
    public let methods: [MethodSchema]

    public init(name: String, methods: [MethodSchema]) {
        self.name = name
        self.methods = methods
    }
}

/// Every service and method of proto/; `services` is generated (Generated/ServiceCatalog+Services.swift).
public enum ServiceCatalog {
    /// Every method of every service, services in file order.
    public static var methods: [MethodSchema] { services.flatMap(\.methods) }
}
