public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// `copslink.rpc.v1.Empty`.
public struct EmptyMessage: Hashable, Sendable {
    public init() {}
}

/// `copslink.rpc.v1.EchoStatus`: a status the test service fails with on request.
public struct EchoStatus: Hashable, Sendable {
    public var code: UInt32
    public var message: String
    public init(code: UInt32, message: String) {
        self.code = code
        self.message = message
    }
}

/// `copslink.rpc.v1.SimpleRequest`.
public struct SimpleRequest: Hashable, Sendable {
    public var responseSize: UInt32
    public var payload: [UInt8]?
    public var responseStatus: Optional<EchoStatus>
    public var sleepMillis: UInt32

    public init(responseSize: UInt32 = 0, payload: [UInt8]? = nil, responseStatus: EchoStatus? = nil, sleepMillis: UInt32 = 0) {
        self.responseSize = responseSize
        self.payload = payload
        self.responseStatus = responseStatus
        self.sleepMillis = sleepMillis
    }
}

/// `copslink.rpc.v1.SimpleResponse`.
public struct SimpleResponse: Hashable, Sendable {
    public var payload: [UInt8]?
    public var receivedSize: UInt32
    public init(payload: [UInt8]? = nil, receivedSize: UInt32 = 0) {
        self.payload = payload
        self.receivedSize = receivedSize
    }
}

/// `copslink.rpc.v1.StreamingInputCallRequest`.
public struct StreamingInputCallRequest: Hashable, Sendable {
    public var payload: [UInt8]?
    public init(payload: [UInt8]? = nil) { self.payload = payload }
}

/// `copslink.rpc.v1.StreamingInputCallResponse`.
public struct StreamingInputCallResponse: Hashable, Sendable {
    public var aggregatedPayloadSize: UInt32
    public var messageCount: UInt32
    public init(aggregatedPayloadSize: UInt32 = 0, messageCount: UInt32 = 0) {
        self.aggregatedPayloadSize = aggregatedPayloadSize
        self.messageCount = messageCount
    }
}

/// `copslink.rpc.v1.ResponseParameters`.
public struct ResponseParameters: Hashable, Sendable {
    public var size: UInt32
    public var intervalMillis: UInt32
    public init(size: UInt32, intervalMillis: UInt32 = 0) {
        self.size = size
        self.intervalMillis = intervalMillis
    }
}

/// `copslink.rpc.v1.StreamingOutputCallRequest`.
public struct StreamingOutputCallRequest: Hashable, Sendable {
    public var responseParameters: [ResponseParameters]
    public var payload: [UInt8]?
    public var responseStatus: Optional<EchoStatus>
    public init(responseParameters: [ResponseParameters] = [], payload: [UInt8]? = nil, responseStatus: EchoStatus? = nil) {
        self.responseParameters = responseParameters
        self.payload = payload
        self.responseStatus = responseStatus
    }
}

/// `copslink.rpc.v1.StreamingOutputCallResponse`.
public struct StreamingOutputCallResponse: Hashable, Sendable {
    public var payload: [UInt8]?
    public init(payload: [UInt8]? = nil) { self.payload = payload }
}

// MARK: Codecs

extension ProtobufArena {
    /// A `copslink.rpc.v1.Payload` sub-message, or nil.
    mutating func payload(_ body: [UInt8]?) -> UnsafeMutablePointer<Copslink__Rpc__V1__Payload>? {
        guard let body else { return nil }
        let message = self.message(Copslink__Rpc__V1__Payload.self, copslink__rpc__v1__payload__init)
        message.pointee.body = binaryData(body)
        return message
    }
}

extension CField {
    static func payload(_ message: UnsafeMutablePointer<Copslink__Rpc__V1__Payload>?) -> [UInt8]? {
        message.map { bytes($0.pointee.body) }
    }
}

extension EmptyMessage: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__Empty
    public static let protoName = "copslink.rpc.v1.Empty"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__empty__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        arena.message(CMessage.self, copslink__rpc__v1__empty__init)
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) { self.init() }
}

extension EchoStatus: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__EchoStatus
    public static let protoName = "copslink.rpc.v1.EchoStatus"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__echo_status__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__echo_status__init)
        message.pointee.code = code
        message.pointee.message = arena.binaryData(utf8: self.message)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(code: message.pointee.code, message: try CField.utf8(message.pointee.message, field: "message"))
    }
}

extension SimpleRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__SimpleRequest
    public static let protoName = "copslink.rpc.v1.SimpleRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__simple_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__simple_request__init)
        message.pointee.response_size = responseSize
        message.pointee.payload = arena.payload(payload)
        message.pointee.response_status = responseStatus?.makeCMessage(in: &arena)
        message.pointee.sleep_millis = sleepMillis
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            responseSize: message.pointee.response_size, payload: CField.payload(message.pointee.payload),
            responseStatus: try message.pointee.response_status.map { (item) throws(RPCError) in try EchoStatus(cMessage: item) },
            sleepMillis: message.pointee.sleep_millis)
    }
}

extension SimpleResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__SimpleResponse
    public static let protoName = "copslink.rpc.v1.SimpleResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__simple_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__simple_response__init)
        message.pointee.payload = arena.payload(payload)
        message.pointee.received_size = receivedSize
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(payload: CField.payload(message.pointee.payload), receivedSize: message.pointee.received_size)
    }
}

extension StreamingInputCallRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__StreamingInputCallRequest
    public static let protoName = "copslink.rpc.v1.StreamingInputCallRequest"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__rpc__v1__streaming_input_call_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__streaming_input_call_request__init)
        message.pointee.payload = arena.payload(payload)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(payload: CField.payload(message.pointee.payload))
    }
}

extension StreamingInputCallResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__StreamingInputCallResponse
    public static let protoName = "copslink.rpc.v1.StreamingInputCallResponse"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__rpc__v1__streaming_input_call_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__streaming_input_call_response__init)
        message.pointee.aggregated_payload_size = aggregatedPayloadSize
        message.pointee.message_count = messageCount
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(aggregatedPayloadSize: message.pointee.aggregated_payload_size, messageCount: message.pointee.message_count)
    }
}

extension ResponseParameters: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__ResponseParameters
    public static let protoName = "copslink.rpc.v1.ResponseParameters"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__response_parameters__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__response_parameters__init)
        message.pointee.size = size
        message.pointee.interval_millis = intervalMillis
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(size: message.pointee.size, intervalMillis: message.pointee.interval_millis)
    }
}

extension StreamingOutputCallRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__StreamingOutputCallRequest
    public static let protoName = "copslink.rpc.v1.StreamingOutputCallRequest"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__rpc__v1__streaming_output_call_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__streaming_output_call_request__init)
        message.pointee.n_response_parameters = responseParameters.count
        message.pointee.response_parameters = arena.repeatedMessages(responseParameters)
        message.pointee.payload = arena.payload(payload)
        message.pointee.response_status = responseStatus?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            responseParameters: try CField.repeated(message.pointee.response_parameters, count: message.pointee.n_response_parameters) {
                (item) throws(RPCError) in try ResponseParameters(cMessage: item)
            },
            payload: CField.payload(message.pointee.payload),
            responseStatus: try message.pointee.response_status.map { (item) throws(RPCError) in try EchoStatus(cMessage: item) })
    }
}

extension StreamingOutputCallResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__StreamingOutputCallResponse
    public static let protoName = "copslink.rpc.v1.StreamingOutputCallResponse"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__rpc__v1__streaming_output_call_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__streaming_output_call_response__init)
        message.pointee.payload = arena.payload(payload)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(payload: CField.payload(message.pointee.payload))
    }
}
