import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTesting
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import Testing

/// How the bundled client reads a unary call's answer (`ClientCall.readSingleResponse`: once, at the call's end)
/// when the server sends it in other shapes than CopsLink's END-with-message. The client is the point, so a scripted
/// server over a socket.
@Suite struct UnaryResponseReadingTests {
    static let response = SimpleResponse(payload: [1, 2, 3], receivedSize: 9)

    /// Calls `unaryCall` on a server answering with `answer`, then `end` after `endDelay`; `returned`, if given, gets
    /// the time the call returned (before the transport and the server close).
    static func call(
        endDelay: TimeAmount = .zero, returned: LockedBox<ContinuousClock.Instant?>? = nil, answer: @escaping ScriptedAnswerServer.Script,
        end: @escaping ScriptedAnswerServer.Script
    ) async throws -> Result<SimpleResponse, RPCError> {
        try await ScriptedAnswerServer.with(endDelay: endDelay, answer: answer, end: end) { server in
            try await TCPClientTransport.withTransport(configuration: ClientConfiguration.forTesting(port: server.port)) { transport in
                let client = TestService.Client(wrapping: RPCClient(transport: transport))
                defer { returned?.withLock { $0 = ContinuousClock.now } }
                do throws(RPCError) {
                    return .success(try await client.unaryCall(SimpleRequest(), options: CallOptions(timeout: .seconds(30))))
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    static func expectFailure(
        _ result: Result<SimpleResponse, RPCError>, _ code: StatusCode, _ message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard case .failure(let error) = result else {
            Issue.record("expected \(code.name), got a response", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, sourceLocation: sourceLocation)
        #expect(error.message == message, sourceLocation: sourceLocation)
    }

    @Test func aResponseInAMessageFrameOfItsOwnThenTheEndIsTheAnswer() async throws {
        let result = try await Self.call(endDelay: .milliseconds(50)) { id, buffer in
            buffer.writeResponse(Self.response, callID: id)
        } end: { id, buffer in
            buffer.writeOKEnd(callID: id)
        }
        #expect(try result.get() == Self.response)
    }

    /// The response alone does not answer the call: its status comes with the END.
    @Test func aResponseFollowedByAFailedEndIsTheFailure() async throws {
        let result = try await Self.call(endDelay: .milliseconds(50)) { id, buffer in
            buffer.writeResponse(Self.response, callID: id)
        } end: { id, buffer in
            buffer.writeFrame(
                .end, callID: id, header: EndHeader(error: RPCError(code: .notFound, message: "no such thing")),
                payload: NoMessage.payload)
        }
        Self.expectFailure(result, .notFound, "no such thing")
    }

    @Test func anEndWithoutAResponseIsInternal() async throws {
        let result = try await Self.call { _, _ in
        } end: { id, buffer in
            buffer.writeOKEnd(callID: id)
        }
        Self.expectFailure(result, .internalError, "the server ended the call without a response message")
    }

    /// Responses the client does not take grant no flow-control credit: waiting for the end after a second one could
    /// wait as long as a server that needs credit to go on. The second response ends the call at once.
    @Test func aSecondResponseEndsTheCallWithoutWaitingForItsEnd() async throws {
        let started = ContinuousClock.now
        let returned = LockedBox<ContinuousClock.Instant?>(nil)
        let result = try await Self.call(endDelay: .seconds(60), returned: returned) { id, buffer in
            buffer.writeResponse(Self.response, callID: id)
            buffer.writeResponse(Self.response, callID: id)
        } end: { id, buffer in
            buffer.writeOKEnd(callID: id)
        }
        Self.expectFailure(result, .internalError, "the server sent more than one response message")
        // The call alone: closing the transport and the scripted server afterwards is not what is measured.
        let took = try #require(returned.withLock { $0 }) - started
        // The parallel suite on a slow machine took the call to 16-18 s; waiting for the END takes 60.
        #expect(took < .seconds(45), "the call waited for the END (60 s): \(took)")
    }

    @Test func twoResponsesAreInternal() async throws {
        let result = try await Self.call { id, buffer in
            buffer.writeResponse(Self.response, callID: id)
            buffer.writeResponse(Self.response, callID: id)
        } end: { id, buffer in
            buffer.writeOKEnd(callID: id)
        }
        Self.expectFailure(result, .internalError, "the server sent more than one response message")
    }
}
