public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

extension Metadata.Entry: ProtobufCCodable {
    public typealias CMessage = Copslink__Rpc__V1__MetadataEntry
    public static let protoName = "copslink.rpc.v1.MetadataEntry"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__rpc__v1__metadata_entry__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__rpc__v1__metadata_entry__init)
        message.pointee.key = arena.cString(key)
        switch value {
        case .text(let text):
            message.pointee.value_case = COPSLINK__RPC__V1__METADATA_ENTRY__VALUE_TEXT
            message.pointee.text = arena.cString(text)
        case .binary(let bytes):
            message.pointee.value_case = COPSLINK__RPC__V1__METADATA_ENTRY__VALUE_BINARY
            message.pointee.binary = arena.binaryData(bytes)
        }
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        let key = CField.string(message.pointee.key)
        switch message.pointee.value_case {
        case COPSLINK__RPC__V1__METADATA_ENTRY__VALUE_TEXT:
            self.init(key: key, value: .text(CField.string(message.pointee.text)))
        case COPSLINK__RPC__V1__METADATA_ENTRY__VALUE_BINARY:
            self.init(key: key, value: .binary(CField.bytes(message.pointee.binary)))
        default:
            self.init(key: key, value: key.hasSuffix("-bin") ? .binary([]) : .text(""))
        }
    }
}

extension Metadata {
    /// Reads a repeated `MetadataEntry` field.
    public init(
        cEntries: UnsafeMutablePointer<UnsafeMutablePointer<Copslink__Rpc__V1__MetadataEntry>?>?, count: Int
    ) throws(RPCError) {
        self.init()
        for entry in try CField.repeated(cEntries, count: count, { (entry) throws(RPCError) in try Entry(cMessage: entry) }) {
            add(entry.key, entry.value)
        }
    }
}
