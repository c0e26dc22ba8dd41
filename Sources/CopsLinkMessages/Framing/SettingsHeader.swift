public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// The header of a SETTINGS frame: the limits one side announces. Zero means "not stated".
public struct SettingsHeader: Hashable, Sendable {
    public var maxFrameSize: UInt32
    public var maxConcurrentCalls: UInt32
    public var initialWindowSize: UInt32
    public var maxHeaderSize: UInt32

    public init(maxFrameSize: UInt32 = 0, maxConcurrentCalls: UInt32 = 0, initialWindowSize: UInt32 = 0, maxHeaderSize: UInt32 = 0) {
        self.maxFrameSize = maxFrameSize
        self.maxConcurrentCalls = maxConcurrentCalls
        self.initialWindowSize = initialWindowSize
        self.maxHeaderSize = maxHeaderSize
    }
}

extension SettingsHeader: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__Settings
    public static let protoName = "copslink.rpc.v1.Settings"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__settings__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__settings__init)
        message.pointee.max_frame_size = maxFrameSize
        message.pointee.max_concurrent_calls = maxConcurrentCalls
        message.pointee.initial_window_size = initialWindowSize
        message.pointee.max_header_size = maxHeaderSize
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            maxFrameSize: message.pointee.max_frame_size,
            maxConcurrentCalls: message.pointee.max_concurrent_calls,
            initialWindowSize: message.pointee.initial_window_size,
            maxHeaderSize: message.pointee.max_header_size)
    }
}
