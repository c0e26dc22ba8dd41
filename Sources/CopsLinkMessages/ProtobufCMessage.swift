public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

#if canImport(Glibc)
import Glibc
#endif

/// A protobuf-c message descriptor: static, immutable C data.
public struct ProtobufCDescriptor: @unchecked Sendable {
    // Sendable because it only points at a `const ProtobufCMessageDescriptor` that protoc-c emitted as static data,
    // which nothing ever writes.
    public let pointer: UnsafePointer<ProtobufCMessageDescriptor>

    /// Reads the descriptor that a generated `…__init` function stores into a fresh message.
    public init<CMessage>(initializing type: CMessage.Type, with initialize: (UnsafeMutablePointer<CMessage>) -> Void) {
        let message = UnsafeMutablePointer<CMessage>.allocate(capacity: 1)
        defer { message.deallocate() }
        initialize(message)
        pointer = UnsafeRawPointer(message).assumingMemoryBound(to: ProtobufCMessage.self).pointee.descriptor
    }
}

/// A Swift value type whose codec goes through a protobuf-c C struct.
///
/// Conforming types supply the C-struct mapping both ways; packing, unpacking and memory handling are shared here.
public protocol ProtobufCCodable: RPCMessage {
    associatedtype CMessage
    static var cDescriptor: ProtobufCDescriptor { get }
    /// Builds this value's C struct in `arena` (strings copied into it, sub-messages too).
    func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage>
    /// The same from the value at `value`, read in place (repeated fields call this: no copy of each element).
    static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage>
    /// Reads a value from a C struct that protobuf-c unpacked; validates what protobuf-c does not.
    init(cMessage: UnsafePointer<CMessage>) throws(RPCError)
}

extension ProtobufCCodable {
    /// By default a copy of the value builds the C struct (a retain and release of each string and array in it).
    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        value.pointee.makeCMessage(in: &arena)
    }

    @inlinable
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws(RPCError) {
        self = try ProtobufArena.with { (arena) throws(RPCError) -> Self in
            arena.decodeLimit = ProtobufArena.decodeMemoryLimit(forMessageOf: bytes.count)
            let unpacked = arena.withAllocator { allocator in
                protobuf_c_message_unpack(
                    Self.cDescriptor.pointer, allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
            }
            guard let unpacked else {
                throw Self.unpackFailure(size: bytes.count, overMemoryLimit: arena.decodeLimitExceeded)
            }
            // No free: the arena owns every allocation unpack made.
            return try Self(cMessage: UnsafeRawPointer(unpacked).assumingMemoryBound(to: CMessage.self))
        }
    }

    /// INVALID_ARGUMENT for malformed bytes; RESOURCE_EXHAUSTED when decoding would pass the memory bound (the
    /// transports report both as an invalid message, the latter with this text appended).
    @usableFromInline
    static func unpackFailure(size: Int, overMemoryLimit: Bool) -> RPCError {
        guard overMemoryLimit else {
            return RPCError(code: .invalidArgument, message: "malformed \(protoName) (\(size) bytes)")
        }
        let limit = ProtobufArena.decodeMemoryLimit(forMessageOf: size)
        return RPCError(
            code: .resourceExhausted,
            message:
                "decoding its \(size) bytes needs more than \(limit) bytes of memory (at most \(ProtobufArena.decodeMemoryFactor) × its size + \(ProtobufArena.decodeMemoryBase / 1024) KiB); too many unknown or tiny fields"
        )
    }

    @inlinable
    public func serialize(into sink: inout some MessageSink) {
        ProtobufArena.with { arena in
            let message = UnsafeMutableRawPointer(makeCMessage(in: &arena)).assumingMemoryBound(to: ProtobufCMessage.self)
            let size = protobuf_c_message_get_packed_size(message)
            sink.appendBytes(count: size) { buffer in
                let written = protobuf_c_message_pack(message, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size)")
            }
        }
    }

    /// The first `string` field, at any depth, that protobuf-c's unpack cut at U+0000 or that is not UTF-8
    /// (`ReceivedStrings`).
    public static func alteredField(inReceived bytes: UnsafeRawBufferPointer) -> String? {
        ReceivedStrings.firstFinding(in: bytes, descriptor: cDescriptor.pointer)?.description
    }

    /// The size `serialize` will write.
    public var serializedSize: Int {
        ProtobufArena.with { arena in
            protobuf_c_message_get_packed_size(
                UnsafeMutableRawPointer(makeCMessage(in: &arena)).assumingMemoryBound(to: ProtobufCMessage.self))
        }
    }
}

/// Reading C fields back into Swift.
public enum CField {
    /// A protobuf-c string field; NULL reads as empty. protobuf-c does not check UTF-8, so invalid bytes are repaired.
    public static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        // An absent proto3 string is protobuf-c's shared empty string: no strlen, no String machinery.
        guard let pointer, pointer.pointee != 0 else { return "" }
        let count = strlen(pointer)
        return String(unsafeUninitializedCapacity: count) { buffer in
            ProtobufArena.copySmall(from: pointer, to: buffer.baseAddress!, count: count)
            return count
        }
    }

    public static func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let base = data.data else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: data.len))
    }

    /// A `bytes` field that carries UTF-8 text; validated, because text is what the schema promises.
    public static func utf8(_ data: ProtobufCBinaryData, field: String) throws(RPCError) -> String {
        guard data.len > 0, let base = data.data else { return "" }
        let buffer = UnsafeBufferPointer(start: base, count: data.len)
        guard let text = String(validating: buffer, as: UTF8.self) else {
            throw RPCError(code: .invalidArgument, message: "\(field) is not valid UTF-8")
        }
        return text
    }

    /// A repeated message field as a Swift array.
    public static func repeated<CElement, Element>(
        _ items: UnsafeMutablePointer<UnsafeMutablePointer<CElement>?>?, count: Int,
        _ transform: (UnsafePointer<CElement>) throws(RPCError) -> Element
    ) throws(RPCError) -> [Element] {
        guard count > 0, let items else { return [] }
        var result: [Element] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let item = items[index] else { continue }
            result.append(try transform(item))
        }
        return result
    }
}

extension ProtobufArena {
    /// A C array of pointers to sub-messages built from `elements`.
    public mutating func repeatedMessages<Element: ProtobufCCodable>(
        _ elements: [Element]
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<Element.CMessage>?>? {
        guard !elements.isEmpty else { return nil }
        let array = allocateArray(of: UnsafeMutablePointer<Element.CMessage>?.self, count: elements.count)
        // Each element is read in place: `elements[index]` is a copy of it (a retain and release of every string and
        // array in it), as the compiler cannot prove that building C structs leaves the array's memory alone.
        elements.withUnsafeBufferPointer { elements in
            // Safe: `elements` is not empty, and its buffer outlives the loop.
            let base = elements.baseAddress!
            for index in elements.indices { array[index] = Element.makeCMessage(at: base + index, in: &self) }
        }
        return array
    }

    /// A fresh C struct, initialised by its generated `…__init` function.
    public mutating func message<CMessage>(
        _ type: CMessage.Type, _ initialize: (UnsafeMutablePointer<CMessage>) -> Void
    ) -> UnsafeMutablePointer<CMessage> {
        let message = allocate(type)
        initialize(message)
        return message
    }
}
