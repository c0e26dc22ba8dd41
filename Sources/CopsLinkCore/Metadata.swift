/// Request or trailing metadata: an ordered list of key/value pairs, keys repeatable.
///
/// Keys are lower-case ASCII (`a-z 0-9 - _ .`). Keys ending in `-bin` carry binary values, all others printable
/// ASCII text, as in gRPC. Keys starting with `copslink-` are reserved for the protocol.
public struct Metadata: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        case text(String)
        case binary([UInt8])

        public var description: String {
            switch self {
            case .text(let text): text
            case .binary(let bytes): "<\(bytes.count) bytes>"
            }
        }
    }

    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: Value
        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init() { entries = [] }

    public init(dictionaryLiteral elements: (String, Value)...) {
        entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public mutating func add(_ key: String, _ value: Value) {
        entries.append(Entry(key: key, value: value))
    }

    public mutating func add(_ key: String, _ text: String) { add(key, .text(text)) }

    public mutating func add(_ key: String, binary: [UInt8]) { add(key, .binary(binary)) }

    /// Replaces every value of `key` with `value`.
    public mutating func replace(_ key: String, with value: Value) {
        entries.removeAll { $0.key == key }
        add(key, value)
    }

    public mutating func removeAll(_ key: String) { entries.removeAll { $0.key == key } }

    /// The first text value of `key`.
    public subscript(text key: String) -> String? {
        for entry in entries where entry.key == key {
            if case .text(let text) = entry.value { return text }
        }
        return nil
    }

    /// Every value of `key`, in order.
    public subscript(key: String) -> [Value] {
        entries.filter { $0.key == key }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    /// Bytes this metadata takes on the wire, keys plus values, for size limits.
    public var encodedSize: Int {
        entries.reduce(0) { total, entry in
            let valueSize: Int
            switch entry.value {
            case .text(let text): valueSize = text.utf8.count
            case .binary(let bytes): valueSize = bytes.count
            }
            return total + entry.key.utf8.count + valueSize
        }
    }

    /// At most this many entries per call (request metadata, on every transport). A call's metadata stays in memory
    /// for the call's life, and small entries cost more there than on the wire: 3,270 entries of 5 bytes filled a
    /// 16 KiB native REQUEST header and took about 100 KiB each, 1.2 GB for the 10,000 calls one key may hold. With
    /// this cap a call's metadata takes about its header's size plus 5 KiB. Envoy's default for headers is the same.
    public static let maximumEntries = 100

    /// Checks keys and values against the rules above (the error names the offending entry) and the number of
    /// entries against `maximumEntries` (RESOURCE_EXHAUSTED).
    public func validate() throws(RPCError) {
        guard entries.count <= Self.maximumEntries else {
            throw RPCError(
                code: .resourceExhausted, message: "metadata of \(entries.count) entries; at most \(Self.maximumEntries) per call")
        }
        for entry in entries {
            guard Self.isValidKey(entry.key) else {
                throw RPCError(
                    code: .invalidArgument,
                    message: "metadata key '\(ClientText.excerpt(entry.key))' is not lower-case ASCII (a-z 0-9 - _ .)")
            }
            guard !entry.key.hasPrefix("copslink-") || Self.protocolKeys.contains(entry.key) else {
                throw RPCError(
                    code: .invalidArgument, message: "metadata key '\(ClientText.excerpt(entry.key))' uses the reserved prefix 'copslink-'")
            }
            let isBinaryKey = entry.key.hasSuffix("-bin")
            switch entry.value {
            case .text(let text):
                guard !isBinaryKey else {
                    throw RPCError(
                        code: .invalidArgument,
                        message: "metadata key '\(ClientText.excerpt(entry.key))' ends in -bin and needs a binary value")
                }
                guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                    throw RPCError(
                        code: .invalidArgument,
                        message:
                            "metadata value of '\(ClientText.excerpt(entry.key))' is not printable ASCII; use a -bin key for binary values")
                }
            case .binary:
                guard isBinaryKey else {
                    throw RPCError(
                        code: .invalidArgument,
                        message: "metadata key '\(ClientText.excerpt(entry.key))' has a binary value but does not end in -bin")
                }
            }
        }
    }

    static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty
            && key.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }
}

extension Metadata {
    /// The metadata key that carries `CallOptions.requestID`.
    public static let requestIDKey = "copslink-request-id"

    /// The `copslink-` keys the protocol defines for request metadata; any other key with that prefix is rejected.
    public static let protocolKeys: Set<String> = [requestIDKey]

    /// The trailer (never request metadata) that marks an idempotent replay: `true` when the answer is the stored
    /// first answer to an earlier request with the same request id, and nothing was changed.
    public static let replayedKey = "copslink-replayed"
    /// The value of `replayedKey` on a replay.
    public static let replayedValue = "true"
}
