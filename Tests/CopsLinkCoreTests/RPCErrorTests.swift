import CopsLinkCore
import Testing

private struct DomainError: RPCErrorConvertible {
    var rpcError: RPCError { RPCError(code: .notFound, message: "account 42 does not exist", details: [1, 2], metadata: ["x": .text("y")]) }
}

private struct SecretError: Error, CustomStringConvertible {
    var description: String { "password=hunter2 at db.internal:5432" }
}

@Suite struct RPCErrorTests {
    @Test func rpcErrorPassesThroughUnchanged() {
        let original = RPCError(code: .permissionDenied, message: "no", details: [7], metadata: ["a-bin": .binary([1])])
        #expect(RPCError(handlerError: original) == original)
    }

    @Test func convertibleErrorUsesItsRPCError() {
        let mapped = RPCError(handlerError: DomainError())
        #expect(mapped == DomainError().rpcError)
        #expect(mapped.code == .notFound)
        #expect(mapped.message == "account 42 does not exist")
        #expect(mapped.details == [1, 2])
    }

    @Test func cancellationBecomesCancelled() {
        let mapped = RPCError(handlerError: CancellationError())
        #expect(mapped.code == .cancelled)
        #expect(mapped.message == "call was cancelled")
    }

    @Test func otherErrorsBecomeUnknownWithoutTheirText() {
        let mapped = RPCError(handlerError: SecretError())
        #expect(mapped.code == .unknown)
        #expect(!mapped.message.contains("hunter2"))
        #expect(!mapped.description.contains("hunter2"))
        #expect(!mapped.message.contains("db.internal"))
        #expect(mapped.details.isEmpty)
        #expect(mapped.metadata.isEmpty)
    }

    @Test func descriptionCombinesNameAndMessage() {
        #expect(RPCError(code: .notFound, message: "nope").description == "NOT_FOUND: nope")
        #expect(RPCError(code: .unavailable, message: "").description == "UNAVAILABLE")
    }

    // `RPCError(code: .ok)` traps; no exit test, see RPCRouterTests (exit tests hang this suite on Linux).
}
