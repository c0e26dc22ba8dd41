import CopsLinkCore
import CopsLinkMessages
import Testing

/// `LengthDelimitedField` writes what the codec writes for an element of a repeated message field.
@Suite("LengthDelimitedField")
struct LengthDelimitedFieldTests {
    static func result(rawLength: Int) -> TestResult {
        TestResult(
            receivedAtMs: 1_795_867_200_000, accountNumber: "22-8762", zoneNumber: "003", eventCode: "602", qualifier: 1,
            rawMessage: String(repeating: "r", count: rawLength), sessionID: "s-1")
    }

    /// Lengths of one, two and three varint bytes, and the empty message; in each of the page's three lists.
    @Test func appendedElementsAreThePageTheCodecEncodes() throws {
        let results = [
            Self.result(rawLength: 0), Self.result(rawLength: 200), Self.result(rawLength: 20_000),
            TestResult(receivedAtMs: 0, accountNumber: "", eventCode: "", qualifier: 0)
        ]
        #expect(results.map { $0.serializedBytes().count }.contains { $0 > 16_383 })
        #expect(results.map { $0.serializedBytes().count }.contains { $0 > 127 && $0 < 16_384 })
        #expect(results.last?.serializedBytes() == [])
        let entry = TestHistoryEntry(atMs: 5, action: .expired, sessionID: "s-1", comment: String(repeating: "c", count: 300))
        let pages: [(UInt32, TestDataPage)] = [
            (2, TestDataPage(results: results)), (3, TestDataPage(signals: results)), (1, TestDataPage(history: [entry, entry]))
        ]
        for (fieldNumber, expected) in pages {
            var bytes: [UInt8] = []
            let elements = fieldNumber == 1 ? [entry.serializedBytes(), entry.serializedBytes()] : results.map { $0.serializedBytes() }
            for element in elements {
                let before = bytes.count
                element.withUnsafeBytes { LengthDelimitedField.append(fieldNumber: fieldNumber, $0, to: &bytes) }
                #expect(bytes.count - before == LengthDelimitedField.encodedSize(fieldNumber: fieldNumber, count: element.count))
            }
            #expect(bytes == expected.serializedBytes(), "field \(fieldNumber)")
            #expect(try TestDataPage(from: bytes) == expected)
        }
    }

    /// Field numbers from 16 take a two-byte tag: (16 << 3 | 2) = 130 = 0x82 0x01.
    @Test func tagsAndLengthsAreVarints() {
        var bytes: [UInt8] = []
        [UInt8](repeating: 7, count: 300).withUnsafeBytes { LengthDelimitedField.append(fieldNumber: 16, $0, to: &bytes) }
        #expect(Array(bytes.prefix(4)) == [0x82, 0x01, 0xAC, 0x02])
        #expect(bytes.count == 304 && LengthDelimitedField.encodedSize(fieldNumber: 16, count: 300) == 304)
        bytes = []
        [UInt8]().withUnsafeBytes { LengthDelimitedField.append(fieldNumber: 1, $0, to: &bytes) }
        #expect(bytes == [0x0A, 0x00])
        #expect(LengthDelimitedField.encodedSize(fieldNumber: 1, count: 0) == 2)
        #expect(LengthDelimitedField.encodedSize(fieldNumber: 536_870_911, count: 1 << 21) == 5 + 4 + (1 << 21))
    }
}
