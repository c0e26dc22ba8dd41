import CopsLinkCore
import Testing

@Suite struct MetadataValidationTests {
    @Test func validKeysAndValuesPass() throws {
        var metadata = Metadata()
        metadata.add("authorization", "Bearer abc.def")
        metadata.add("x-custom_key.v2", " printable ~ ascii !")
        metadata.add("0123456789", "")
        metadata.add("trace-bin", binary: [0, 1, 0xFF, 0x80])
        metadata.add("empty-bin", binary: [])
        metadata.add(Metadata.requestIDKey, "req-1")
        metadata.add("authorization", "repeated key")
        try metadata.validate()
        #expect(metadata.count == 7)
    }

    @Test func emptyMetadataIsValid() throws {
        try Metadata().validate()
    }

    @Test func atMostAHundredEntries() throws {
        var metadata = Metadata()
        for index in 0..<Metadata.maximumEntries { metadata.add("k\(index % 7)", "") }
        try metadata.validate()
        metadata.add("one-more", "")
        let error = #expect(throws: RPCError.self) { try metadata.validate() }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message == "metadata of 101 entries; at most 100 per call")
    }

    @Test(arguments: ["Authorization", "X-Trace", "a b", "key:", "ключ", "caf\u{E9}", "tab\tkey", "slash/key", ""])
    func invalidKeysAreRejected(_ key: String) {
        let metadata: Metadata = [key: .text("v")]
        let error = #expect(throws: RPCError.self) { try metadata.validate() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'\(ClientText.excerpt(key))'") == true)  // quoted short and escaped
        #expect(error?.message.contains("lower-case") == true)
    }

    @Test(arguments: ["caf\u{E9}", "line\nbreak", "tab\there", "nul\u{0}", "del\u{7F}", "\u{1F600}"])
    func textValueWithNonPrintableOrNonASCIIIsRejected(_ value: String) {
        let metadata: Metadata = ["x-note": .text(value)]
        let error = #expect(throws: RPCError.self) { try metadata.validate() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'x-note'") == true)
        #expect(error?.message.contains("not printable ASCII") == true)
    }

    @Test func binaryKeyWithTextValueIsRejected() {
        let metadata: Metadata = ["trace-bin": .text("abc")]
        let error = #expect(throws: RPCError.self) { try metadata.validate() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'trace-bin'") == true)
        #expect(error?.message.contains("binary value") == true)
    }

    @Test func binaryValueWithoutBinKeyIsRejected() {
        let metadata: Metadata = ["trace": .binary([1, 2, 3])]
        let error = #expect(throws: RPCError.self) { try metadata.validate() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'trace'") == true)
        #expect(error?.message.contains("does not end in -bin") == true)
    }

    @Test func errorNamesTheFirstOffendingEntry() {
        var metadata = Metadata()
        metadata.add("good", "ok")
        metadata.add("second-bad", binary: [1])
        metadata.add("Third", "x")
        let error = #expect(throws: RPCError.self) { try metadata.validate() }
        #expect(error?.message.contains("'second-bad'") == true)
        #expect(error?.message.contains("Third") == false)
    }
}

@Suite struct MetadataContainerTests {
    @Test func orderAndRepeatedKeysArePreserved() {
        var metadata = Metadata()
        metadata.add("a", "1")
        metadata.add("b-bin", binary: [2])
        metadata.add("a", "3")
        #expect(metadata.entries.map(\.key) == ["a", "b-bin", "a"])
        #expect(metadata["a"] == [.text("1"), .text("3")])
        #expect(metadata[text: "a"] == "1")
        #expect(metadata[text: "b-bin"] == nil)
        #expect(metadata["missing"].isEmpty)
        #expect(metadata.encodedSize == 1 + 1 + 5 + 1 + 1 + 1)

        metadata.replace("a", with: .text("4"))
        #expect(metadata["a"] == [.text("4")])
        #expect(metadata.entries.map(\.key) == ["b-bin", "a"])
        metadata.removeAll("b-bin")
        #expect(metadata.entries == [Metadata.Entry(key: "a", value: .text("4"))])
    }

    @Test func valueDescriptionHidesBinaryContent() {
        #expect(Metadata.Value.text("hello").description == "hello")
        #expect(Metadata.Value.binary([1, 2, 3]).description == "<3 bytes>")
    }
}

@Suite struct CallOptionsTests {
    @Test func effectiveMetadataAddsRequestID() {
        var options = CallOptions(metadata: ["authorization": .text("token")], requestID: "req-7")
        let effective = options.effectiveMetadata
        #expect(Metadata.requestIDKey == "copslink-request-id")
        #expect(effective[text: "copslink-request-id"] == "req-7")
        #expect(effective[text: "authorization"] == "token")
        #expect(effective.count == 2)
        // The stored metadata itself is untouched.
        #expect(options.metadata.count == 1)
        #expect(options.metadata[text: "copslink-request-id"] == nil)

        options.requestID = nil
        #expect(options.effectiveMetadata == options.metadata)
    }

    @Test func effectiveMetadataReplacesAnExistingRequestID() {
        var metadata = Metadata()
        metadata.add("copslink-request-id", "stale-1")
        metadata.add("x", "y")
        metadata.add("copslink-request-id", "stale-2")
        let options = CallOptions(metadata: metadata, requestID: "fresh")
        let effective = options.effectiveMetadata
        #expect(effective["copslink-request-id"] == [.text("fresh")])
        #expect(effective[text: "x"] == "y")
        #expect(effective.count == 2)
    }

    @Test func defaultsHaveNothing() {
        let options = CallOptions.defaults
        #expect(options.timeout == nil)
        #expect(options.requestID == nil)
        #expect(options.metadata.isEmpty)
        #expect(options.effectiveMetadata.isEmpty)
    }
}
