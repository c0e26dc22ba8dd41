public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// The header of a CANCEL frame.
public struct CancelHeader: Hashable, Sendable {
    public var reason: String
    public init(reason: String = "") { self.reason = reason }
}

extension CancelHeader: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__CancelHeader
    public static let protoName = "copslink.rpc.v1.CancelHeader"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__cancel_header__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__cancel_header__init)
        message.pointee.reason = arena.cString(reason)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(reason: CField.string(message.pointee.reason))
    }
}

/// The header of a WINDOW_UPDATE frame: more payload credit for one call.
public struct WindowUpdateHeader: Hashable, Sendable {
    public var increment: UInt32
    public init(increment: UInt32) { self.increment = increment }
}

extension WindowUpdateHeader: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__WindowUpdate
    public static let protoName = "copslink.rpc.v1.WindowUpdate"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__window_update__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__window_update__init)
        message.pointee.increment = increment
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(increment: message.pointee.increment)
    }
}

/// The header of a GOAWAY frame: no call after `lastCallID` is accepted.
public struct GoAwayHeader: Hashable, Sendable {
    public enum Code: Hashable, Sendable {
        case noError, protocolError, frameTooLarge, enhanceYourCalm, keepaliveTimeout, internalError, idleTimeout, refused
        case unrecognized(UInt32)

        public init(rawValue: UInt32) {
            switch rawValue {
            case 0: self = .noError
            case 1: self = .protocolError
            case 2: self = .frameTooLarge
            case 3: self = .enhanceYourCalm
            case 4: self = .keepaliveTimeout
            case 5: self = .internalError
            case 6: self = .idleTimeout
            case 7: self = .refused
            default: self = .unrecognized(rawValue)
            }
        }

        public var rawValue: UInt32 {
            switch self {
            case .noError: 0
            case .protocolError: 1
            case .frameTooLarge: 2
            case .enhanceYourCalm: 3
            case .keepaliveTimeout: 4
            case .internalError: 5
            case .idleTimeout: 6
            case .refused: 7
            case .unrecognized(let value): value
            }
        }
    }

    public var lastCallID: UInt64
    public var code: Code
    public var message: String

    public init(lastCallID: UInt64, code: Code, message: String) {
        self.lastCallID = lastCallID
        self.code = code
        self.message = message
    }
}

extension GoAwayHeader: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__GoAway
    public static let protoName = "copslink.rpc.v1.GoAway"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__go_away__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__go_away__init)
        message.pointee.last_call_id = lastCallID
        message.pointee.code = Copslink__Rpc__V1__GoAway__Code(rawValue: code.rawValue)
        message.pointee.message = arena.cString(self.message)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            lastCallID: message.pointee.last_call_id,
            code: Code(rawValue: message.pointee.code.rawValue),
            message: CField.string(message.pointee.message))
    }
}
