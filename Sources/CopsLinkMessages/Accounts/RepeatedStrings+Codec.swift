import CProtobufC
import CopsLinkCore

extension ProtobufArena {
    /// A C array of `char *` copies of `strings`, as protobuf-c's repeated string fields want.
    mutating func cStrings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard !strings.isEmpty else { return nil }
        let array = allocateArray(of: UnsafeMutablePointer<CChar>?.self, count: strings.count)
        strings.withUnsafeBufferPointer { strings in
            // Safe: `strings` is not empty, and its buffer outlives the loop; read in place, as `repeatedMessages`.
            let base = strings.baseAddress!
            for index in strings.indices { array[index] = cString(at: base + index) }
        }
        return array
    }
}

extension CField {
    /// A repeated string field; NULL elements read as empty strings.
    static func strings(_ items: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, count: Int) -> [String] {
        guard count > 0, let items else { return [] }
        return (0..<count).map { string(items[$0]) }
    }

    /// An optional sub-message field: NULL reads as nil.
    static func message<T: ProtobufCCodable>(_ pointer: UnsafeMutablePointer<T.CMessage>?, as type: T.Type) throws(RPCError) -> T? {
        guard let pointer else { return nil }
        return try T(cMessage: pointer)
    }

    /// A repeated sub-message field.
    static func messages<T: ProtobufCCodable>(
        _ items: UnsafeMutablePointer<UnsafeMutablePointer<T.CMessage>?>?, count: Int, as type: T.Type
    ) throws(RPCError) -> [T] {
        try repeated(items, count: count) { (item) throws(RPCError) in try T(cMessage: item) }
    }
}
