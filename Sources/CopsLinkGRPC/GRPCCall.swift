import CopsLinkCore
import NIOCore
import Synchronization

/// One gRPC stream as a `ServerCallStream`: the dispatcher and handlers see the same request bytes and answer the same
/// messages as on the native protocol; the stream handler frames them (`GRPCStreamHandler`).
final class GRPCCall: ServerCallStream, Sendable {
    /// Request messages as they arrive; ends at the client's END_STREAM, fails on cancellation.
    let requests = AsyncMessageQueue<[UInt8]>()
    private let eventLoop: any EventLoop
    private let handler: NIOLoopBound<GRPCStreamHandler>
    private let finished = Atomic<Bool>(false)

    init(eventLoop: any EventLoop, handler: NIOLoopBound<GRPCStreamHandler>) {
        self.eventLoop = eventLoop
        self.handler = handler
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
        try await requests.next()
    }

    /// One response message; returns once the stream has taken it (HTTP/2 flow control reaches the handler here).
    func write(_ message: some RPCMessage) async throws(RPCError) {
        guard !isFinished else { throw RPCError(code: .cancelled, message: "the call has ended") }
        let bytes = try Self.serialized(message)
        let promise = eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        eventLoop.execute { handler.value.writeMessage(bytes, promise: promise) }
        do {
            try await promise.futureResult.get()
        } catch {
            throw RPCError(code: .cancelled, message: "the HTTP/2 stream closed")
        }
    }

    static func serialized(_ message: some RPCMessage) throws(RPCError) -> [UInt8] {
        let bytes = message.serializedBytes()
        guard bytes.count <= Int(UInt32.max) else {
            throw RPCError(code: .internalError, message: "the response message is too large for gRPC's framing")
        }
        return bytes
    }

    func finish(_ outcome: CallOutcome) {
        guard finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let final: GRPCStreamHandler.Final
        switch outcome {
        case .success(let message, let trailers):
            do throws(RPCError) {
                final = .success(message: try message.map { message throws(RPCError) in try Self.serialized(message) }, trailers: trailers)
            } catch {
                final = .failure(error)
            }
        case .failure(let error):
            final = .failure(error)
        }
        requests.finish(.failure(RPCError(code: .cancelled, message: "the call has ended")))
        let handler = self.handler
        eventLoop.execute { handler.value.finishCall(final) }
    }

    /// Ends the call without an answer: the client reset the stream or the connection is gone.
    func abandon() {
        finished.store(true, ordering: .releasing)
        requests.finish(.failure(RPCError(code: .cancelled, message: "the client cancelled the call")))
    }
}
