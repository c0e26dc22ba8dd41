import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import Testing

@testable import CopsLinkTransport

/// The END frame's buffer is sized for an answer whose size is known (an `EncodedMessage`, GetAccount's page): writing
/// it does not grow the buffer, which would copy the frame.
@Suite struct EndFrameCapacityTests {
    @Test(arguments: [0, 900, 1_500, 70_000])
    func anEncodedAnswerFitsTheBufferAllocatedForIt(size: Int) {
        let message = EncodedMessage<Account>(bytes: [UInt8](repeating: 0x0A, count: size))
        let trailers: Metadata = ["copslink-replayed": .text("true"), "x-trace": .text("abc")]
        let outcome = CallOutcome.success(finalMessage: message, trailers: trailers)
        var buffer = ByteBufferAllocator().buffer(capacity: ServerCall.endFrameCapacity(outcome))
        let capacity = buffer.capacity
        buffer.writeFrame(.end, callID: 7, header: EndHeader(statusCode: 0, trailers: trailers), payload: message as (any RPCMessage)?)
        #expect(buffer.readableBytes > size)
        #expect(buffer.capacity == capacity)
    }

    @Test func otherOutcomesGetTheDefault() {
        #expect(ServerCall.endFrameCapacity(.failure(RPCError(code: .notFound, message: "no"))) == 1024)
        #expect(ServerCall.endFrameCapacity(.success(finalMessage: nil, trailers: [:])) == 1024)
        #expect(ServerCall.endFrameCapacity(.success(finalMessage: EncodedMessage<Account>(bytes: [1, 2]), trailers: [:])) == 1024)
    }
}
