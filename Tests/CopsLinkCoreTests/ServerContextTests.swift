import CopsLinkCore
import Testing

/// `ServerContext` keeps its per-call fixed part in one shared object (copy on write): copies and setters must
/// still behave as the value type it is, and every copy must add to the same response trailers.
@Suite struct ServerContextTests {
    private static let method = MethodDescriptor(service: "pkg.Svc", method: "Do")

    private static func context() -> ServerContext {
        ServerContext(
            descriptor: method, metadata: ["k": .text("v")], deadline: nil, peer: "10.0.0.1:5000", callID: 7,
            failureLogBudget: FailureLogBudget(burst: 1, perSecond: 1))
    }

    @Test func aSetterChangesOnlyTheCopyItIsCalledOn() {
        let original = Self.context()
        var copy = original
        copy.peer = "10.0.0.2:6000"
        copy.descriptor = MethodDescriptor(service: "pkg.Svc", method: "Other")
        copy.failureLogBudget = nil
        #expect(original.peer == "10.0.0.1:5000")
        #expect(original.descriptor == Self.method)
        #expect(original.failureLogBudget != nil)
        #expect(copy.peer == "10.0.0.2:6000")
        #expect(copy.descriptor.path == "/pkg.Svc/Other")
        #expect(copy.failureLogBudget == nil)
        #expect(copy.callID == 7 && copy.metadata == ["k": .text("v")])
    }

    @Test func everyCopyAddsToTheSameTrailersEvenAfterASetter() {
        let original = Self.context()
        var copy = original
        copy.peer = "elsewhere"  // replaces the copy's fixed part: the trailers must stay the original's
        var copyOfCopy = copy
        copyOfCopy.descriptor = MethodDescriptor(service: "pkg.Svc", method: "Other")
        original.responseTrailers.add("a", "1")
        copy.responseTrailers.add("b", "2")
        copyOfCopy.responseTrailers.add("c", "3")
        let expected: Metadata = ["a": .text("1"), "b": .text("2"), "c": .text("3")]
        #expect(original.responseTrailers.metadata == expected)
        #expect(copy.responseTrailers.metadata == expected)
        #expect(copyOfCopy.responseTrailers.metadata == expected)
    }

    @Test func separateContextsHaveSeparateTrailers() {
        let first = Self.context()
        let second = Self.context()
        first.responseTrailers.add("a", "1")
        #expect(second.responseTrailers.metadata.isEmpty)
        #expect(ResponseTrailers().metadata.isEmpty)
    }
}
