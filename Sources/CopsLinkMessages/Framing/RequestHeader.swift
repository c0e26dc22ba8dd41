public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// The header of a REQUEST frame, which opens a call.
public struct RequestHeader: Hashable, Sendable {
    /// `/package.Service/Method`.
    public var method: String
    /// Relative deadline in microseconds; 0 means none.
    public var timeoutMicros: UInt64
    public var metadata: Metadata

    public init(method: String, timeoutMicros: UInt64 = 0, metadata: Metadata = [:]) {
        self.method = method
        self.timeoutMicros = timeoutMicros
        self.metadata = metadata
    }
}

extension RequestHeader: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__RequestHeader
    public static let protoName = "copslink.rpc.v1.RequestHeader"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__request_header__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__request_header__init)
        message.pointee.method = arena.cString(method)
        message.pointee.timeout_micros = timeoutMicros
        message.pointee.n_metadata = metadata.count
        message.pointee.metadata = arena.repeatedMessages(metadata.entries)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            method: CField.string(message.pointee.method),
            timeoutMicros: message.pointee.timeout_micros,
            metadata: try Metadata(cEntries: message.pointee.metadata, count: message.pointee.n_metadata))
    }
}
