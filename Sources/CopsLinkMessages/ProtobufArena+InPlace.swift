import CProtobufC

/// Building C structs from a value's address, a field at a time.
///
/// A value loaded from memory (an array element, or a sub-message inside one) is copied, a retain and release of each
/// of its strings and arrays, unless the compiler can prove that the code using it leaves that memory alone, and
/// building C structs calls C. These helpers read each field through its address just before copying it into the
/// arena, so encoding an `Account` retains nothing but its arrays (the copies were a sixth of encoding's time).
extension ProtobufCCodable {
    /// `makeCMessage(in:)` of a type that implements `makeCMessage(at:in:)`. Only for such a type: the protocol's
    /// default `makeCMessage(at:in:)` calls `makeCMessage(in:)`, and the two would call each other for ever.
    @inline(__always)
    func makeCMessageInPlace(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        // Safe: the pointer is used only during the call, while `self` is alive and unchanged.
        withUnsafePointer(to: self) { Self.makeCMessage(at: $0, in: &arena) }
    }
}

extension ProtobufArena {
    /// A NUL-terminated copy of the string field `field` of the value at `value`.
    @inline(__always)
    mutating func cString<Value>(_ value: UnsafePointer<Value>, _ field: KeyPath<Value, String>) -> UnsafeMutablePointer<CChar> {
        // `pointer(to:)` is nil only for a computed property; every key path given here names a stored one.
        cString(at: value.pointer(to: field)!)
    }

    /// The C struct of the optional sub-message field `field` of the value at `value`, or NULL if it is nil.
    @inline(__always)
    mutating func message<Value, Field: ProtobufCCodable>(
        _ value: UnsafePointer<Value>, _ field: KeyPath<Value, Field?>
    ) -> UnsafeMutablePointer<Field.CMessage>? {
        let optional = value.pointer(to: field)!  // a stored property, as above
        guard optional.pointee != nil else { return nil }
        // Safe: a single-payload enum keeps its payload at offset 0 (Swift's ABI, docs/ABI/TypeLayout.rst), and the
        // optional is `.some`, so these bytes are an initialized `Field` that lives as long as `value`; the memory is
        // rebound to `Field` for the call only, and read, never written, through it.
        return optional.withMemoryRebound(to: Field.self, capacity: 1) { Field.makeCMessage(at: $0, in: &self) }
    }

    /// A NUL-terminated copy of the string at `string`, which is read only after the arena has made room.
    @usableFromInline
    mutating func cString(at string: UnsafePointer<String>) -> UnsafeMutablePointer<CChar> {
        let count = string.pointee.utf8.count
        let raw = allocateUnaligned(byteCount: count + 1)
        let copied: Void? = string.pointee.utf8.withContiguousStorageIfAvailable { bytes in
            if let base = bytes.baseAddress { Self.copySmall(from: UnsafeRawPointer(base), to: raw, count: count) }
        }
        if copied == nil { Self.copyNonContiguous(string, to: raw, count: count) }
        raw.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        return raw.assumingMemoryBound(to: CChar.self)
    }

    /// The bytes of a string without contiguous UTF-8 (a bridged one); kept apart so that the common path has no
    /// call that could write the string's memory.
    @inline(never)
    static func copyNonContiguous(_ string: UnsafePointer<String>, to raw: UnsafeMutableRawPointer, count: Int) {
        UnsafeMutableRawBufferPointer(start: raw, count: count).copyBytes(from: string.pointee.utf8)
    }
}
