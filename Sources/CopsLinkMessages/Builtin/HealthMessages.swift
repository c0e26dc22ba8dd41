public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// `copslink.rpc.v1.HealthCheckRequest`.
public struct HealthCheckRequest: Hashable, Sendable {
    /// Fully qualified service name; empty asks about the server as a whole.
    public var service: String
    public init(service: String = "") { self.service = service }
}

/// `copslink.rpc.v1.HealthCheckResponse`.
public struct HealthCheckResponse: Hashable, Sendable {
    public enum ServingStatus: Hashable, Sendable {
        case unknown, serving, notServing
        case unrecognized(UInt32)

        init(rawValue: UInt32) {
            switch rawValue {
            case 0: self = .unknown
            case 1: self = .serving
            case 2: self = .notServing
            default: self = .unrecognized(rawValue)
            }
        }

        var rawValue: UInt32 {
            switch self {
            case .unknown: 0
            case .serving: 1
            case .notServing: 2
            case .unrecognized(let value): value
            }
        }
    }

    public var status: ServingStatus
    public init(status: ServingStatus) { self.status = status }
}

extension HealthCheckRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__HealthCheckRequest
    public static let protoName = "copslink.rpc.v1.HealthCheckRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__health_check_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__health_check_request__init)
        message.pointee.service = arena.cString(service)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(service: CField.string(message.pointee.service))
    }
}

extension HealthCheckResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__HealthCheckResponse
    public static let protoName = "copslink.rpc.v1.HealthCheckResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__health_check_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__health_check_response__init)
        message.pointee.status = Copslink__Rpc__V1__HealthCheckResponse__ServingStatus(rawValue: status.rawValue)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(status: ServingStatus(rawValue: message.pointee.status.rawValue))
    }
}
