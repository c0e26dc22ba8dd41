public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// `copslink.rpc.v1.ServerInfoRequest` (no fields).
public struct ServerInfoRequest: Hashable, Sendable {
    public init() {}
}

/// `copslink.rpc.v1.MethodInfo`.
public struct MethodInfo: Hashable, Sendable {
    public var name: String
    public var kind: MethodKind
    public var requestType: String
    public var responseType: String

    public init(name: String, kind: MethodKind, requestType: String, responseType: String) {
        self.name = name
        self.kind = kind
        self.requestType = requestType
        self.responseType = responseType
    }
}

/// `copslink.rpc.v1.ServiceInfo`.
public struct ServiceInfo: Hashable, Sendable {
    public var name: String
    public var methods: [MethodInfo]
    public init(name: String, methods: [MethodInfo]) {
        self.name = name
        self.methods = methods
    }
}

/// `copslink.rpc.v1.ServerInfoResponse`.
public struct ServerInfoResponse: Hashable, Sendable {
    public var serverVersion: String
    public var protocolVersions: [UInt32]
    public var services: [ServiceInfo]
    public var limits: Optional<SettingsHeader>

    public init(serverVersion: String, protocolVersions: [UInt32], services: [ServiceInfo], limits: SettingsHeader?) {
        self.serverVersion = serverVersion
        self.protocolVersions = protocolVersions
        self.services = services
        self.limits = limits
    }
}

extension ServerInfoRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__ServerInfoRequest
    public static let protoName = "copslink.rpc.v1.ServerInfoRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__server_info_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        arena.message(CMessage.self, copslink__rpc__v1__server_info_request__init)
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) { self.init() }
}

extension MethodKind {
    init(wireValue: UInt32) {
        switch wireValue {
        case 1: self = .serverStreaming
        case 2: self = .clientStreaming
        case 3: self = .bidirectionalStreaming
        default: self = .unary
        }
    }

    var wireValue: UInt32 {
        switch self {
        case .unary: 0
        case .serverStreaming: 1
        case .clientStreaming: 2
        case .bidirectionalStreaming: 3
        }
    }
}

extension MethodInfo: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__MethodInfo
    public static let protoName = "copslink.rpc.v1.MethodInfo"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__method_info__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__method_info__init)
        message.pointee.name = arena.cString(name)
        message.pointee.kind = Copslink__Rpc__V1__MethodInfo__Kind(rawValue: kind.wireValue)
        message.pointee.request_type = arena.cString(requestType)
        message.pointee.response_type = arena.cString(responseType)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            name: CField.string(message.pointee.name), kind: MethodKind(wireValue: message.pointee.kind.rawValue),
            requestType: CField.string(message.pointee.request_type), responseType: CField.string(message.pointee.response_type))
    }
}

extension ServiceInfo: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__ServiceInfo
    public static let protoName = "copslink.rpc.v1.ServiceInfo"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__service_info__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__service_info__init)
        message.pointee.name = arena.cString(name)
        message.pointee.n_methods = methods.count
        message.pointee.methods = arena.repeatedMessages(methods)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            name: CField.string(message.pointee.name),
            methods: try CField.repeated(message.pointee.methods, count: message.pointee.n_methods) { (item) throws(RPCError) in
                try MethodInfo(cMessage: item)
            })
    }
}

extension ServerInfoResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__ServerInfoResponse
    public static let protoName = "copslink.rpc.v1.ServerInfoResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__server_info_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__server_info_response__init)
        message.pointee.server_version = arena.cString(serverVersion)
        message.pointee.n_protocol_versions = protocolVersions.count
        if !protocolVersions.isEmpty {
            let versions = arena.allocateArray(of: UInt32.self, count: protocolVersions.count)
            for (index, version) in protocolVersions.enumerated() { versions[index] = version }
            message.pointee.protocol_versions = versions
        }
        message.pointee.n_services = services.count
        message.pointee.services = arena.repeatedMessages(services)
        message.pointee.limits = limits?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        let count = message.pointee.n_protocol_versions
        let versions = count > 0 ? Array(UnsafeBufferPointer(start: message.pointee.protocol_versions, count: count)) : []
        self.init(
            serverVersion: CField.string(message.pointee.server_version),
            protocolVersions: versions,
            services: try CField.repeated(message.pointee.services, count: message.pointee.n_services) { (item) throws(RPCError) in
                try ServiceInfo(cMessage: item)
            },
            limits: try message.pointee.limits.map { (item) throws(RPCError) in try SettingsHeader(cMessage: item) })
    }
}
