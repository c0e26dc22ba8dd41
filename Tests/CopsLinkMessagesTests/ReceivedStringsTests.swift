import CopsLinkCore
import CopsLinkMessages
import Testing

/// protobuf-c cuts a received `string` at U+0000 and the Swift side repairs invalid UTF-8, so a server decoding a
/// request as-is would act on a value its client never sent; `init(receivedRequest:)` refuses such a request and
/// names the field.
@Suite("Received strings")
struct ReceivedStringsTests {
    /// A LinkAccount request whose strings are placeholders of distinct letters, so that a test can overwrite one in
    /// the encoded bytes with what the Swift encoder cannot write (a NUL, invalid UTF-8).
    private static let request = LinkAccountRequest(
        requestID: "rrrrrrrr", customer: Customer(id: "cust-1", firstName: "FFFFFFFF", lastName: "Lee"),
        respondingParties: [
            RespondingParty(id: "p1", phones: [Phone(number: "5550001", type: .mobile)]),
            RespondingParty(id: "p2", phones: [Phone(number: "5550002", type: .home), Phone(number: "NNNNNNNN", type: .work)])
        ])

    /// The encoded request with the first occurrence of `placeholder` replaced by `replacement` (same length).
    private static func bytes(replacing placeholder: String, with replacement: [UInt8]) throws -> [UInt8] {
        var bytes = request.serializedBytes()
        let target = Array(placeholder.utf8)
        #expect(replacement.count == target.count)
        let start = try #require(
            (0...(bytes.count - target.count)).first { Array(bytes[$0..<($0 + target.count)]) == target })
        bytes.replaceSubrange(start..<(start + target.count), with: replacement)
        return bytes
    }

    private static func refusal(_ bytes: [UInt8]) -> RPCError? {
        #expect(throws: RPCError.self) { _ = try LinkAccountRequest(receivedRequest: bytes) }
    }

    @Test func aValidRequestDecodesAsItDidBefore() throws {
        let bytes = Self.request.serializedBytes()
        #expect(try LinkAccountRequest(receivedRequest: bytes) == Self.request)
        // Non-ASCII text is valid UTF-8 and passes.
        var request = Self.request
        request.customer?.lastName = "Łukasz 東京 🚨"
        #expect(try LinkAccountRequest(receivedRequest: request.serializedBytes()) == request)
    }

    @Test func aNULInANestedStringIsRefusedWithItsField() throws {
        let bytes = try Self.bytes(replacing: "FFFFFFFF", with: Array("Ann".utf8) + [0] + Array("ette".utf8))
        // Decoded as protobuf-c does, the name would silently be "Ann".
        let cut = try bytes.withUnsafeBytes { try LinkAccountRequest(serializedBytes: $0) }
        #expect(cut.customer?.firstName == "Ann")
        let error = try #require(Self.refusal(bytes))
        #expect(error.code == .invalidArgument)
        #expect(
            error.message
                == "request message is not a valid copslink.v1.LinkAccountRequest: customer.first_name contains U+0000 (at byte 3 of its value), which this server's protobuf strings cannot hold"
        )
    }

    @Test func repeatedFieldsAreNamedWithTheirIndex() throws {
        let bytes = try Self.bytes(replacing: "NNNNNNNN", with: [0x35, 0x35, 0x35, 0xC3, 0x28, 0x30, 0x30, 0x30])
        let error = try #require(Self.refusal(bytes))
        #expect(
            error.message
                == "request message is not a valid copslink.v1.LinkAccountRequest: responding_parties[1].phones[1].number is not valid UTF-8 (at byte 3 of its value); protobuf strings must be UTF-8"
        )
    }

    @Test func aTopLevelStringIsChecked() throws {
        let bytes = try Self.bytes(replacing: "rrrrrrrr", with: [0] + Array("rrrrrrr".utf8))
        let error = try #require(Self.refusal(bytes))
        #expect(
            error.message.hasSuffix(
                ": request_id contains U+0000 (at byte 0 of its value), which this server's protobuf strings cannot hold"))
    }

    @Test func bytesFieldsAndUnknownFieldsAreNotStrings() throws {
        // SimpleRequest.payload is `bytes`: a NUL in it is data.
        let request = SimpleRequest(payload: [0, 1, 0, 0xFF])
        #expect(try SimpleRequest(receivedRequest: request.serializedBytes()) == request)
        // An unknown length-delimited field (number 99) holding a NUL and invalid UTF-8 is skipped, as unpack skips it.
        var bytes = Self.request.serializedBytes()
        bytes += [0x9A, 0x06, 3, 0, 0xFF, 0xFE]
        #expect(try LinkAccountRequest(receivedRequest: bytes) == Self.request)
    }

    @Test func malformedBytesKeepTheMalformedStatus() throws {
        // A string field whose length runs past the end: the walk stops, unpack reports it.
        let bytes = Array(Self.request.serializedBytes().dropLast(2))
        let error = try #require(Self.refusal(bytes))
        #expect(error.message == "request message is not a valid copslink.v1.LinkAccountRequest")
    }

    @Test func signalsAreCheckedToo() throws {
        // ReportSignals' requests, each read through RequestStream as a received request.
        let signal = Signal(accountNumber: "22-8761", eventCode: "130", zoneOrUser: "00A")
        var bytes = signal.serializedBytes()
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "A")))
        bytes[at] = 0
        let error = #expect(throws: RPCError.self) { _ = try Signal(receivedRequest: bytes) }
        #expect(error?.message.contains("zone_or_user contains U+0000 (at byte 2 of its value)") == true)
    }
}
