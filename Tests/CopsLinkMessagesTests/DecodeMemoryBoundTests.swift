import CopsLinkCore
import CopsLinkMessages
import Testing

/// Decoding may take at most 256 KiB + 4 × the message's size: a message of tiny unknown fields is refused instead of
/// costing 20 times its size, and the largest legitimate requests still decode.
@Suite("Decode memory bound")
struct DecodeMemoryBoundTests {
    /// `count` copies of field 15 (unknown to every CopsLink message) as a varint 0: two bytes each.
    private static func unknownFields(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2 * count)
        for _ in 0..<count { bytes += [15 << 3, 0] }
        return bytes
    }

    @Test func aMessageOfTinyUnknownFieldsIsRefusedAtTheBound() throws {
        let bytes = Self.unknownFields(64 << 10)  // 128 KiB: about 2.5 MiB of unknown-field records, over 768 KiB
        let error = #expect(throws: RPCError.self) {
            try bytes.withUnsafeBytes { try SimpleRequest(serializedBytes: $0) }
        }
        #expect(error?.code == .resourceExhausted)
        #expect(
            error?.message
                == "decoding its 131072 bytes needs more than 786432 bytes of memory (at most 4 × its size + 256 KiB); too many unknown or tiny fields"
        )
        // What a server answers for it: INVALID_ARGUMENT, the reason appended.
        let status = RPCError.invalidRequest(SimpleRequest.protoName, decodeError: try #require(error))
        #expect(status.code == .invalidArgument)
        #expect(status.message.hasPrefix("request message is not a valid copslink.rpc.v1.SimpleRequest: decoding its 131072 bytes"))
    }

    @Test func aFewUnknownFieldsStillDecode() throws {
        let bytes = Self.unknownFields(1_000)
        let request = try bytes.withUnsafeBytes { try SimpleRequest(serializedBytes: $0) }
        #expect(request == SimpleRequest())
    }

    @Test func malformedBytesKeepTheirStatus() {
        let error = #expect(throws: RPCError.self) {
            try [UInt8]([0x0a, 0xff]).withUnsafeBytes { try SimpleRequest(serializedBytes: $0) }
        }
        #expect(error?.code == .invalidArgument)
        let status = RPCError.invalidRequest(SimpleRequest.protoName, decodeError: error!)
        #expect(status.message == "request message is not a valid copslink.rpc.v1.SimpleRequest")
    }

    @Test func theLargestLegitimateRequestsDecode() throws {
        // Every list at its field limit, with the shortest entries: the most structure per byte a valid request has.
        let zones = SetCentralStationZonesRequest(
            customerID: "c", zones: (0..<1_000).map { Zone(zoneNumber: String(100 + $0 % 900), description: "z") })
        let zoneBytes = zones.serializedBytes()
        #expect(try zoneBytes.withUnsafeBytes { try SetCentralStationZonesRequest(serializedBytes: $0) } == zones)

        let phones = (0..<10).map { Phone(number: "80155501\($0)", type: .mobile) }
        let parties = (0..<100).map { RespondingParty(id: "p\($0)", priority: UInt32($0), firstName: "A", phones: phones) }
        let equipment = (0..<1_000).map { Equipment(id: "e\($0)", name: "n", zoneNumber: "001") }
        let link = LinkAccountRequest(customer: Customer(id: "c", lastName: "L", equipment: equipment), respondingParties: parties)
        let linkBytes = link.serializedBytes()
        #expect(try linkBytes.withUnsafeBytes { try LinkAccountRequest(serializedBytes: $0) } == link)

        // A large payload costs about its size.
        let big = SimpleRequest(payload: Array(repeating: 1, count: 4 << 20))
        #expect(try big.serializedBytes().withUnsafeBytes { try SimpleRequest(serializedBytes: $0) } == big)
    }
}
