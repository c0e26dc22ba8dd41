import CopsLinkCore
import CopsLinkMessages

/// Every Swift type with a protobuf-c codec, for the drift tests: the generated `MessageCatalog` (scripts/generate
/// writes it from proto/). `DescriptorDriftTests` still fails when a message of the generated C code is neither
/// listed nor contained in a listed one, and when an entry names no generated message.
enum MessageCodecCatalog {
    static var all: [any ProtobufCCodable.Type] {
        MessageCatalog.types.map { $0 as any ProtobufCCodable.Type }
    }
}
