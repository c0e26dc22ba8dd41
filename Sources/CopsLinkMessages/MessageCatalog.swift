/// Every message of proto/ and its Swift type: what the codec fuzzer, the codec tests and tools iterate over
/// instead of hand-written lists. `entries` is generated (Generated/MessageCatalog+Entries.swift).
public enum MessageCatalog {
    public struct Entry: Sendable {
        /// Fully qualified, e.g. `copslink.v1.Account`.
        public let protoName: String
        /// Nil for a message with no Swift type of its own (inlined into the messages that hold it).
        public let swiftType: (any (ProtobufCCodable & Hashable).Type)?

        public init(_ protoName: String, _ swiftType: (any (ProtobufCCodable & Hashable).Type)?) {
            self.protoName = protoName
            self.swiftType = swiftType
        }
    }

    /// Every message type with a Swift codec, in proto/ order.
    public static var types: [any (ProtobufCCodable & Hashable).Type] { entries.compactMap(\.swiftType) }
}
