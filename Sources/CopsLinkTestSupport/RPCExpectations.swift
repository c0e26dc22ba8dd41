public import CopsLinkCore
public import Testing

/// Expects `body` to fail with `code`; returns the error for further checks.
@discardableResult
public func expectRPCError(
    _ code: StatusCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> RPCError? {
    do {
        try await body()
        Issue.record("expected \(code.name), but the call succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as RPCError {
        #expect(error.code == code, "expected \(code.name), got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// An async sequence over an array, for streaming requests.
public struct Messages<Element: Sendable>: AsyncSequence, Sendable {
    let elements: [Element]
    public init(_ elements: [Element]) { self.elements = elements }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var index = 0
        let elements: [Element]
        public mutating func next() async -> Element? {
            guard index < elements.count else { return nil }
            defer { index += 1 }
            return elements[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(elements: elements) }
}
