import CopsLinkCore
import Testing

@Suite struct StatusCodeTests {
    static let expectedNames = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
    ]

    @Test(arguments: 0...16)
    func rawValueRoundTrips(_ value: Int) throws {
        let code = try #require(StatusCode(rawValue: UInt32(value)))
        #expect(code.rawValue == UInt32(value))
        #expect(code.name == Self.expectedNames[value])
        #expect(code.description == Self.expectedNames[value])
    }

    @Test(arguments: [17, 18, 100, UInt32.max])
    func valuesOutsideTheRangeAreRejected(_ value: UInt32) {
        #expect(StatusCode(rawValue: value) == nil)
    }

    @Test func staticCodesHaveTheirWireValues() {
        let codes: [(StatusCode, UInt32)] = [
            (.ok, 0), (.cancelled, 1), (.unknown, 2), (.invalidArgument, 3), (.deadlineExceeded, 4), (.notFound, 5),
            (.alreadyExists, 6), (.permissionDenied, 7), (.resourceExhausted, 8), (.failedPrecondition, 9),
            (.aborted, 10), (.outOfRange, 11), (.unimplemented, 12), (.internalError, 13), (.unavailable, 14),
            (.dataLoss, 15), (.unauthenticated, 16)
        ]
        for (code, raw) in codes {
            #expect(code.rawValue == raw, "\(code)")
            #expect(StatusCode(rawValue: raw) == code)
        }
        #expect(StatusCode.notFound.name == "NOT_FOUND")
        #expect(StatusCode.internalError.name == "INTERNAL")
    }

    @Test func allCasesAreInWireOrder() {
        #expect(StatusCode.allCases.count == 17)
        #expect(StatusCode.allCases.map(\.rawValue) == Array(0...16))
        #expect(Set(StatusCode.allCases).count == 17)
        #expect(StatusCode.allCases.map(\.name) == Self.expectedNames)
    }
}
