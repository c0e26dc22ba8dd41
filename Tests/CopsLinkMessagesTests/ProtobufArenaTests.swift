import CCopsLinkProtos
import CProtobufC
import CopsLinkCore
import CopsLinkMessages
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ProtobufArenaTests {
    static func bigString(_ seed: Int, length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789 -_.")
        return String((0..<length).map { alphabet[($0 &* 31 &+ seed &* 7) % alphabet.count] })
    }

    @Test func requestWithManyEntriesAndLargeStringsRoundTrips() throws {
        var metadata = Metadata()
        for index in 0..<500 {
            if index % 3 == 0 {
                metadata.add("bin-\(index)-bin", binary: (0..<(index * 13 % 9000)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) })
            } else {
                metadata.add("key-\(index)", Self.bigString(index, length: index % 50 == 1 ? 5000 : index % 97))
            }
        }
        let value = RequestHeader(method: "/" + Self.bigString(1, length: 6000) + "/M", timeoutMicros: 123, metadata: metadata)
        let bytes = value.serializedBytes()
        #expect(bytes.count > 500_000)
        #expect(value.serializedSize == bytes.count)
        let decoded = try RequestHeader(from: bytes)
        #expect(decoded == value)
        #expect(decoded.metadata.count == 500)
        #expect(decoded.metadata.entries == metadata.entries)
    }

    @Test func endHeaderWithHugeFieldsRoundTrips() throws {
        var trailers = Metadata()
        for index in 0..<500 { trailers.add("t\(index)", Self.bigString(index, length: 4097)) }
        let message = String(repeating: "\u{1F600}\u{0}é", count: 100_000)  // ~700 KB, well past the first chunks
        let value = EndHeader(statusCode: 14, statusMessage: message, details: [UInt8](repeating: 0xAB, count: 2 << 20), trailers: trailers)
        let decoded = try EndHeader(from: value.serializedBytes())
        #expect(decoded == value)
        #expect(Array(decoded.statusMessage.utf8) == Array(message.utf8))
        #expect(decoded.details.count == 2 << 20)
    }

    @Test func manyLargeValuesInOneArenaStayIntact() {
        // Strings and blobs larger than the 1 KiB stack block force heap chunks; each must keep its own bytes.
        ProtobufArena.with { arena in
            var strings: [(UnsafeMutablePointer<CChar>, String)] = []
            for index in 0..<50 {
                let string = Self.bigString(index, length: 100 + index * 397)
                strings.append((arena.cString(string), string))
            }
            for (pointer, string) in strings {
                #expect(String(cString: pointer) == string)
            }
        }
    }

    @Test func allocationsWithinTheStackBlockAreSixteenByteAligned() {
        ProtobufArena.with { arena in
            for size in [1, 3, 17, 7, 33, 16, 15, 2, 100, 1] {
                let pointer = arena.allocate(byteCount: size)
                #expect(Int(bitPattern: pointer) % 16 == 0, "allocation of \(size) bytes at \(pointer)")
            }
        }
    }

    /// The first allocation in a new chunk must not carry the padding computed for the previous chunk's cursor.
    @Test func allocationsAreSixteenByteAlignedAlsoInNewChunks() {
        ProtobufArena.with { arena in
            _ = arena.allocate(byteCount: 1)
            // Needs 15 bytes of padding + 4095 > 4095 remaining: grows into a new chunk.
            let pointer = arena.allocate(byteCount: 4095)
            #expect(Int(bitPattern: pointer) % 16 == 0, "first allocation in a new chunk at \(pointer)")
        }
        let sizes = [1, 3, 4095, 1, 17, 5000, 7, 9000, 33, 20000, 1, 16, 15, 100_000, 2]
        ProtobufArena.with { arena in
            for size in sizes {
                let pointer = arena.allocate(byteCount: size)
                #expect(Int(bitPattern: pointer) % 16 == 0, "allocation of \(size) bytes at \(pointer)")
                pointer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: size)
            }
        }
    }

    @Test func allocationsDoNotOverlap() {
        ProtobufArena.with { arena in
            var blocks: [(UnsafeMutableRawPointer, Int, UInt8)] = []
            for index in 0..<300 {
                let size = (index * 577) % 6000 + 1
                let pointer = arena.allocate(byteCount: size)
                let fill = UInt8(truncatingIfNeeded: index)
                pointer.initializeMemory(as: UInt8.self, repeating: fill, count: size)
                blocks.append((pointer, size, fill))
            }
            for (pointer, size, fill) in blocks {
                let bytes = UnsafeRawBufferPointer(start: pointer, count: size)
                #expect(bytes.allSatisfy { $0 == fill })
            }
        }
    }

    @Test func typedAllocationsAreZeroed() {
        ProtobufArena.with { arena in
            _ = arena.allocate(byteCount: 3)
            let value = arena.allocate(UInt64.self)
            #expect(value.pointee == 0)
            let array = arena.allocateArray(of: UInt32.self, count: 1000)
            #expect(UnsafeBufferPointer(start: array, count: 1000).allSatisfy { $0 == 0 })
        }
    }

    /// The first chunk past the stack block is the thread's cached one: a second arena on the thread gets it back
    /// instead of a fresh malloc (a block malloc'd in between would have taken it had it been freed).
    @Test func theThreadsChunkIsReusedByTheNextArena() {
        let first = ProtobufArena.with { arena in Int(bitPattern: arena.allocate(byteCount: 4000)) }
        let blocker = malloc(16 << 10)
        defer { free(blocker) }
        let second = ProtobufArena.with { arena in Int(bitPattern: arena.allocate(byteCount: 4000)) }
        #expect(first == second)
    }

    /// An arena opened while another holds the thread's chunk must not write into it.
    @Test func nestedArenasDoNotShareTheThreadsChunk() {
        ProtobufArena.with { arena in _ = arena.allocate(byteCount: 4000) }  // the thread's slot now holds a chunk
        ProtobufArena.with { outer in
            let kept = outer.allocate(byteCount: 4000)
            kept.initializeMemory(as: UInt8.self, repeating: 0x11, count: 4000)
            ProtobufArena.with { inner in
                inner.allocate(byteCount: 4000).initializeMemory(as: UInt8.self, repeating: 0x22, count: 4000)
            }
            #expect(UnsafeRawBufferPointer(start: kept, count: 4000).allSatisfy { $0 == 0x11 })
        }
    }

    @Test func cStringsAreCopiedWithTheirTerminator() {
        ProtobufArena.with { arena in
            // Every length the small copy treats apart (0, 1-3, 4-7, 8-16, longer), and multi-byte UTF-8.
            let lengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 3600]
            let strings = lengths.map { Self.bigString($0, length: $0) } + ["Zoë", "\u{1F600}", "x"]
            for string in strings {
                #expect(String(cString: arena.cString(string)) == string)
            }
        }
    }

    @Test func binaryDataCopies() {
        ProtobufArena.with { arena in
            let empty = arena.binaryData([])
            #expect(empty.len == 0)
            #expect(empty.data == nil)
            let data = arena.binaryData([1, 2, 3])
            #expect(data.len == 3)
            #expect(Array(UnsafeBufferPointer(start: data.data, count: data.len)) == [1, 2, 3])
            let text = arena.binaryData(utf8: "a\u{0}\u{E9}")
            #expect(Array(UnsafeBufferPointer(start: text.data, count: text.len)) == [0x61, 0x00, 0xC3, 0xA9])
            #expect(arena.binaryData(utf8: "").len == 0)
        }
    }
}
