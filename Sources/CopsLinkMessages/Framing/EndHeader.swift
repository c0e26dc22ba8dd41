public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

/// The header of an END frame: a call's status and trailing metadata.
public struct EndHeader: Hashable, Sendable {
    /// The wire value; may be outside 0...16 when a peer misbehaves (readers map that to UNKNOWN).
    public var statusCode: UInt32
    public var statusMessage: String
    public var details: [UInt8]
    public var trailers: Metadata

    public init(statusCode: UInt32, statusMessage: String = "", details: [UInt8] = [], trailers: Metadata = [:]) {
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.details = details
        self.trailers = trailers
    }

    public init(error: RPCError) {
        self.init(statusCode: error.code.rawValue, statusMessage: error.message, details: error.details, trailers: error.metadata)
    }

    /// OK with trailers, or the error the status describes.
    public var result: Result<Metadata, RPCError> {
        guard statusCode != 0 else { return .success(trailers) }
        guard let code = StatusCode(rawValue: statusCode) else {
            return .failure(
                RPCError(
                    code: .unknown, message: "peer sent unknown status code \(statusCode): \(statusMessage)", details: details,
                    metadata: trailers))
        }
        return .failure(RPCError(code: code, message: statusMessage, details: details, metadata: trailers))
    }
}

extension EndHeader: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__EndHeader
    public static let protoName = "copslink.rpc.v1.EndHeader"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__end_header__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__end_header__init)
        message.pointee.status_code = statusCode
        message.pointee.status_message = arena.binaryData(utf8: statusMessage)
        message.pointee.details = arena.binaryData(details)
        message.pointee.n_trailers = trailers.count
        message.pointee.trailers = arena.repeatedMessages(trailers.entries)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            statusCode: message.pointee.status_code,
            statusMessage: try CField.utf8(message.pointee.status_message, field: "status_message"),
            details: CField.bytes(message.pointee.details),
            trailers: try Metadata(cEntries: message.pointee.trailers, count: message.pointee.n_trailers))
    }
}
