public import CCopsLinkProtos
import CProtobufC
import CopsLinkCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bump allocator that lives for one encode or decode.
///
/// protobuf-c mallocs once per string and sub-message when unpacking; routed through an arena that starts in a
/// stack block, a typical message costs no malloc at all, and everything is released at once on every path.
/// Chunks that overflow the stack block are malloc'd and linked through their first word.
///
/// Decoding is bounded: protobuf-c keeps every unknown field it meets (about 40 bytes of memory for a 2-byte field),
/// so a 4 MiB request of tiny unknown fields once cost about 150 MB. While unpacking, the arena refuses to hand out
/// more than `decodeMemoryLimit(forMessageOf:)` bytes, and unpack then fails (`decodeLimitExceeded`).
public struct ProtobufArena: ~Copyable {
    @usableFromInline static let alignment = 16
    @usableFromInline static let chunkHeader = 16
    /// The stack block: 1 KiB, the most `withUnsafeTemporaryAllocation` puts on the stack unconditionally. Above
    /// that it asks the platform whether the stack has room, and on Linux it allocates on the heap instead (measured:
    /// a 4 KiB block cost a `posix_memalign` per encode and decode, four per unary call on each side).
    @usableFromInline static let stackBytes = 1024

    @usableFromInline var cursor: UnsafeMutableRawPointer
    @usableFromInline var remaining: Int
    @usableFromInline var lastChunk: UnsafeMutableRawPointer?
    /// The thread's reusable chunk (`ThreadChunkCache`) while this arena holds it; not in the `lastChunk` list.
    @usableFromInline var cachedChunk: UnsafeMutableRawPointer?
    @usableFromInline var nextChunkSize = 8192
    /// Bytes protobuf-c asked for while unpacking, and the most it may have (`decodeMemoryLimit`).
    @usableFromInline var decodedBytes = 0
    @usableFromInline var decodeLimit = Int.max
    /// Whether an unpack failed because it asked for more than `decodeLimit`.
    @usableFromInline var decodeLimitExceeded = false

    /// Base of the decode memory bound: room for the structure of any message within the field limits (1,000 small
    /// sub-messages and their strings take about 130 KB).
    public static let decodeMemoryBase = 256 << 10
    /// Factor of the decode memory bound: strings and bytes cost about their size, sub-messages a few times theirs.
    public static let decodeMemoryFactor = 4

    /// The most memory unpacking a message of `size` bytes may take: 256 KiB + 4 × its size.
    @inlinable
    public static func decodeMemoryLimit(forMessageOf size: Int) -> Int {
        decodeMemoryBase + decodeMemoryFactor * size
    }

    @inlinable
    init(block: UnsafeMutableRawBufferPointer) {
        cursor = block.baseAddress!
        remaining = block.count
    }

    /// Runs `body` with an arena whose memory is released when it returns or throws.
    @inlinable
    public static func with<Result, Failure: Error>(
        _ body: (inout ProtobufArena) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try withUnsafeTemporaryAllocation(byteCount: stackBytes, alignment: alignment) { (block) throws(Failure) -> Result in
            var arena = ProtobufArena(block: block)
            defer { arena.releaseChunks() }
            return try body(&arena)
        }
    }

    /// `size` bytes aligned to 16, valid until the arena is released.
    @inlinable @inline(__always)
    public mutating func allocate(byteCount size: Int) -> UnsafeMutableRawPointer {
        var padding = (Self.alignment - Int(bitPattern: cursor) % Self.alignment) % Self.alignment
        if size + padding > remaining {
            grow(toFit: size)
            padding = 0  // chunks start aligned
        }
        let aligned = cursor + padding
        let used = padding + size
        cursor += used
        remaining -= used
        return aligned
    }

    /// `size` bytes with no alignment (for C strings: only structs need it), valid until the arena is released.
    @inlinable
    public mutating func allocateUnaligned(byteCount size: Int) -> UnsafeMutableRawPointer {
        if size > remaining { grow(toFit: size) }
        let start = cursor
        cursor += size
        remaining -= size
        return start
    }

    /// Zeroed memory for one `T`.
    public mutating func allocate<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        let raw = allocate(byteCount: MemoryLayout<T>.stride)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.stride)
        return raw.assumingMemoryBound(to: T.self)
    }

    /// A zeroed array of `count` values of `T`.
    public mutating func allocateArray<T>(of type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = MemoryLayout<T>.stride * max(count, 1)
        let raw = allocate(byteCount: bytes)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return raw.assumingMemoryBound(to: T.self)
    }

    /// A NUL-terminated copy of `string`'s UTF-8 bytes, as protobuf-c's `char *` fields want.
    ///
    /// Reads the string in place (a small string from a stack copy): no copy of the `String` value, hence no
    /// retain and release of its storage, which was a fifth of encoding's time.
    public mutating func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        // Safe: the pointer is used only during the call, while the borrowed `string` is alive and unchanged.
        withUnsafePointer(to: string) { cString(at: $0) }
    }

    /// `count` bytes from `source` to `target`; field values are mostly a few bytes long, where a call to memcpy
    /// cost more than the copy (a fifth of encoding's Swift time). Reads and writes only within `0..<count`.
    @inline(__always)
    @usableFromInline
    static func copySmall(from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer, count: Int) {
        switch count {
        case 8...16:
            let head = source.loadUnaligned(as: UInt64.self)
            let tail = source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            target.storeBytes(of: head, as: UInt64.self)
            target.storeBytes(of: tail, toByteOffset: count - 8, as: UInt64.self)
        case 4..<8:
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            target.storeBytes(of: head, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: count - 4, as: UInt32.self)
        case 1..<4:
            target.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
            target.storeBytes(of: source.load(fromByteOffset: count / 2, as: UInt8.self), toByteOffset: count / 2, as: UInt8.self)
            target.storeBytes(of: source.load(fromByteOffset: count - 1, as: UInt8.self), toByteOffset: count - 1, as: UInt8.self)
        case 0:
            break
        default:
            target.copyMemory(from: source, byteCount: count)
        }
    }

    /// protobuf-c binary data pointing at a copy of `bytes` in the arena.
    public mutating func binaryData(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let raw = allocate(byteCount: bytes.count)
        bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return ProtobufCBinaryData(len: bytes.count, data: raw.assumingMemoryBound(to: UInt8.self))
    }

    /// Binary data holding `string`'s UTF-8 bytes exactly (NUL included), for `bytes` fields that carry text.
    public mutating func binaryData(utf8 string: String) -> ProtobufCBinaryData {
        var string = string
        return string.withUTF8 { utf8 in
            guard let base = utf8.baseAddress, utf8.count > 0 else { return ProtobufCBinaryData(len: 0, data: nil) }
            let raw = allocate(byteCount: utf8.count)
            raw.copyMemory(from: base, byteCount: utf8.count)
            return ProtobufCBinaryData(len: utf8.count, data: raw.assumingMemoryBound(to: UInt8.self))
        }
    }

    @usableFromInline
    mutating func grow(toFit size: Int) {
        // The first chunk past the stack block is the thread's cached one when it is free and large enough: a
        // message whose C structures take up to 16 KiB then costs no malloc after the thread's first.
        if cachedChunk == nil, size <= ThreadChunkCache.chunkSize - Self.alignment, let chunk = ThreadChunkCache.take() {
            cachedChunk = chunk
            cursor = chunk
            remaining = ThreadChunkCache.chunkSize
            return
        }
        let chunkSize = max(nextChunkSize, size + Self.alignment + Self.chunkHeader)
        nextChunkSize = min(nextChunkSize * 2, 1 << 20)
        guard let chunk = malloc(chunkSize) else { fatalError("out of memory allocating \(chunkSize) bytes") }
        chunk.storeBytes(of: lastChunk, as: UnsafeMutableRawPointer?.self)
        lastChunk = chunk
        cursor = chunk + Self.chunkHeader
        remaining = chunkSize - Self.chunkHeader
    }

    @usableFromInline
    mutating func releaseChunks() {
        while let chunk = lastChunk {
            lastChunk = chunk.load(as: UnsafeMutableRawPointer?.self)
            free(chunk)
        }
        if let chunk = cachedChunk {
            cachedChunk = nil
            ThreadChunkCache.giveBack(chunk)
        }
    }

    /// A protobuf-c allocator that allocates from this arena and frees nothing (the arena frees everything at once).
    @inlinable
    mutating func withAllocator<Result, Failure: Error>(
        _ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try withUnsafeMutablePointer(to: &self) { (arena) throws(Failure) -> Result in
            var allocator = ProtobufCAllocator(
                alloc: { data, size in
                    let arena = data!.assumingMemoryBound(to: ProtobufArena.self)
                    let size = max(size, 1)
                    arena.pointee.decodedBytes += size
                    guard arena.pointee.decodedBytes <= arena.pointee.decodeLimit else {
                        arena.pointee.decodeLimitExceeded = true
                        return nil  // protobuf-c fails the unpack and frees (into the arena: nothing) what it built
                    }
                    return arena.pointee.allocate(byteCount: size)
                },
                free: { _, _ in },
                allocator_data: UnsafeMutableRawPointer(arena)
            )
            return try body(&allocator)
        }
    }
}

/// One 16 KiB arena chunk per thread, reused by every encode and decode on that thread.
///
/// Most messages' C structures outgrow the 1 KiB stack block (a full `Account` takes about 4 KiB); without the cache
/// each encode and decode of such a message paid a malloc and free of a fresh chunk. The chunk is taken out of the
/// thread's slot while an arena uses it, so a nested arena on the same thread finds the slot empty and mallocs its
/// own; it is freed when the thread exits.
@usableFromInline
enum ThreadChunkCache {
    @usableFromInline static let chunkSize = 16 << 10

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { chunk in free(chunk) }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// The thread's chunk (emptying its slot), or a fresh one; nil only if malloc fails.
    @usableFromInline
    static func take() -> UnsafeMutableRawPointer? {
        if let chunk = pthread_getspecific(key) {
            pthread_setspecific(key, nil)
            return chunk
        }
        return malloc(chunkSize)
    }

    /// Puts `chunk` back in the thread's slot, or frees it if the slot is taken (nested arenas).
    @usableFromInline
    static func giveBack(_ chunk: UnsafeMutableRawPointer) {
        if pthread_getspecific(key) == nil, pthread_setspecific(key, chunk) == 0 { return }
        free(chunk)
    }
}
