import CProtobufC
import CopsLinkMessages

/// What the codec benchmarks need beyond the shared Account (`MessageFixtures.account`, in the main package).
public enum CodecFixture {
    /// A protobuf-c allocator over `arena` that frees nothing (the arena frees everything at once): what
    /// CopsLinkMessages does inside `Account(serializedBytes:)`.
    public static func withAllocator<Result>(
        _ arena: inout ProtobufArena, _ body: (UnsafeMutablePointer<ProtobufCAllocator>) -> Result
    ) -> Result {
        withUnsafeMutablePointer(to: &arena) { pointer in
            var allocator = ProtobufCAllocator(
                alloc: { data, size in data!.assumingMemoryBound(to: ProtobufArena.self).pointee.allocate(byteCount: max(size, 1)) },
                free: { _, _ in },
                allocator_data: UnsafeMutableRawPointer(pointer))
            return body(&allocator)
        }
    }
}
