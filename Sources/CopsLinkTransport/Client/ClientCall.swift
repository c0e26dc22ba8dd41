import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import Synchronization

/// One call on a client connection. Frames are encoded in the caller's task with call id 0; the event loop
/// assigns the id when the call gets a slot under the server's concurrency limit and patches it in.
final class ClientCall: ClientCallStream, Sendable {
    let responses = MessageQueue<ClientStreamPart>()
    let credit: CallCredit
    let descriptor: MethodDescriptor
    private let connection: NIOLoopBound<ClientConnectionHandler>
    private let allocator: ByteBufferAllocator
    private let serverMaxFrameSize: Int
    private let serverMaxHeaderSize: Int
    private let finished = Atomic<Bool>(false)
    private let refused = Atomic<Bool>(false)

    /// Whether the server provably never saw this call (refused by GOAWAY, or never written before the connection
    /// ended), so it may be retried as is.
    var wasNeverProcessed: Bool { refused.load(ordering: .acquiring) }

    func markNeverProcessed() { refused.store(true, ordering: .releasing) }
    /// Set once, by `complete`, before the queue ends; `next` answers the end with it.
    private let trailers = Mutex<Metadata>([:])

    /// What the connection handler keeps about a call while it runs.
    struct LoopState {
        /// Assigned when the call gets one of the server's call slots; nil while it waits for one.
        var id: UInt64?
        var deadline: Scheduled<Void>?
        var receiveWindow: ReceiveWindow
    }

    /// Read and written only by `ClientConnectionHandler`, on the connection's event loop: the handler is not
    /// Sendable, lives on that loop, and is the only code that names this property. Kept in the call so that a call
    /// is one object and the handler needs no second table from calls to ids. `loop` checks the rule in debug
    /// builds, as `NIOLoopBound` does; `_modify` keeps the in-place update.
    nonisolated(unsafe) private var loopState: LoopState
    var loop: LoopState {
        get {
            assert(connection.eventLoop.inEventLoop, "ClientCall.loop used off its connection's event loop")
            return loopState
        }
        _modify {
            assert(connection.eventLoop.inEventLoop, "ClientCall.loop used off its connection's event loop")
            yield &loopState
        }
    }

    init(
        descriptor: MethodDescriptor, connection: NIOLoopBound<ClientConnectionHandler>, allocator: ByteBufferAllocator,
        serverLimits: PeerLimits, receiveWindow: Int
    ) {
        self.descriptor = descriptor
        self.connection = connection
        self.allocator = allocator
        self.serverMaxFrameSize = serverLimits.maxFrameSize
        self.serverMaxHeaderSize = serverLimits.maxHeaderSize
        self.credit = CallCredit(sendWindow: serverLimits.initialWindowSize, receiveWindow: receiveWindow)
        self.loopState = LoopState(receiveWindow: ReceiveWindow(initial: receiveWindow))
    }

    /// Encodes the REQUEST frame that opens this call, with `message` inside.
    func requestFrame(header: RequestHeader, message: some RPCMessage, endStream: Bool) throws(RPCError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 1024)  // most requests fit: no reallocation while packing
        let size = buffer.writeFrame(.request, flags: endStream ? .endStream : [], header: header, message: message)
        return try checkedRequestFrame(buffer, size: size)
    }

    /// Encodes the REQUEST frame that opens this call, without a message.
    func requestFrame(header: RequestHeader, endStream: Bool) throws(RPCError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        let size = buffer.writeFrame(.request, flags: endStream ? .endStream : [], header: header, payload: NoMessage.payload)
        return try checkedRequestFrame(buffer, size: size)
    }

    /// `buffer`, a REQUEST frame of `size` bytes, if the server takes its header and its size.
    private func checkedRequestFrame(_ buffer: ByteBuffer, size: Int) throws(RPCError) -> ByteBuffer {
        let headerSize = buffer.frameHeaderLength()
        guard headerSize <= serverMaxHeaderSize else {
            throw RPCError(
                code: .resourceExhausted,
                message:
                    "request header (method and metadata) of \(headerSize) bytes exceeds the server's maximum header size of \(serverMaxHeaderSize) bytes"
            )
        }
        try checkFrameSize(size, headerSize: headerSize)
        return buffer
    }

    /// A unary call whose REQUEST frame with the request inside would be larger than this (the whole frame: the
    /// server counts every byte it holds of the connection) sends the request in a MESSAGE frame of its own after a
    /// REQUEST without it. The server authenticates a call's caller from the REQUEST's metadata, and until one has authenticated on a
    /// connection it holds at most 16 KiB of it while connections without a key hold their share of its memory
    /// (PROTOCOL.md §12.1): a large request inside its REQUEST could not be read until a key had passed, and it
    /// carries the key. The server's `InboundMemoryBudget.untrustedAllowance`.
    static let inlineRequestLimit = 16 << 10

    /// The frames that open a unary call and send its request: REQUEST(END_STREAM|HAS_MESSAGE) with the request, or,
    /// for a request over `inlineRequestLimit`, REQUEST(0x00) then MESSAGE(END_STREAM|HAS_MESSAGE) with it.
    func unaryFrames(header: RequestHeader, request: some RPCMessage) throws(RPCError) -> (request: ByteBuffer, message: ByteBuffer?) {
        let inline = try requestFrame(header: header, message: request, endStream: true)
        guard inline.readableBytes > Self.inlineRequestLimit else { return (inline, nil) }
        let headerSize = inline.frameHeaderLength()
        let requestSize = inline.readableBytes - Frame.minimumEncodedSize - headerSize
        let opening = try requestFrame(header: header, endStream: false)
        var message = allocator.buffer(capacity: Frame.minimumEncodedSize + requestSize)
        message.writeFrame(
            .message, flags: [.endStream, .hasMessage],
            rawPayload: inline.getSlice(at: inline.readerIndex + Frame.minimumEncodedSize + headerSize, length: requestSize)!)
        return (opening, message)
    }

    /// Sends the MESSAGE frame of `unaryFrames`, after the REQUEST the connection was given (both go through the
    /// event loop in the order they are handed to it).
    func sendOpeningMessage(_ frame: ByteBuffer) {
        connection.run((self, frame)) { $0.writeCallFrame($1.1, for: $1.0, endsStream: true) }
    }

    /// True for the one caller that ends the call.
    func markFinished() -> Bool { !finished.exchange(true, ordering: .acquiringAndReleasing) }

    /// Ends the call with `result` (from the event loop: END, deadline, GOAWAY, connection loss). Responses already
    /// received are still read before an error from an END frame (`deliveringBuffered`), as gRPC clients do.
    func complete(_ result: Result<Metadata, RPCError>, deliveringBuffered: Bool = false) {
        guard markFinished() else { return }
        switch result {
        case .success(let metadata):
            trailers.withLock { $0 = metadata }
            responses.finish(.success(()))  // `next` answers the end with these trailers
            credit.close(RPCError(code: .cancelled, message: "the call has ended"))
        case .failure(let error):
            responses.finish(.failure(error), deliveringBuffered: deliveringBuffered)
            credit.close(error)
        }
    }

    func send(_ message: some RPCMessage) async throws(RPCError) {
        var buffer = allocator.buffer(capacity: 512)
        let size = buffer.writeFrame(.message, header: NoMessage.header, message: message)
        try checkFrameSize(size, headerSize: 0)
        try await withCancellation { () throws(RPCError) in try await credit.acquire(size - Frame.minimumEncodedSize) }
        connection.run((self, buffer)) { $0.writeCallFrame($1.1, for: $1.0) }
    }

    func finishSending() {
        var buffer = allocator.buffer(capacity: Frame.minimumEncodedSize)
        buffer.writeFrame(.message, flags: .endStream, header: NoMessage.header, payload: NoMessage.payload)
        connection.run((self, buffer)) { $0.writeCallFrame($1.1, for: $1.0, endsStream: true) }
    }

    func next() async throws(RPCError) -> ClientStreamPart {
        guard let part = try await responses.next(onCancel: { [self] in cancel() }) else {
            return .end(trailers: trailers.withLock { $0 })
        }
        if case .message(let bytes) = part, let consumed = credit.inboundConsumed(bytes.count), consumed.credit > 0 {
            connection.run((self, consumed.credit)) { $0.grantCredit($1.1, for: $1.0) }
        }
        return part
    }

    /// The one response and the trailers of a unary or client-streaming call, read when the call has ended: one
    /// suspension at most, where `ClientCallStream.readSingleResponse()` reads the response and then the end.
    /// The same answers: the call's failure, or INTERNAL for no response or more than one (then, at the second
    /// response, the call is cancelled: a server streaming more than a window would otherwise wait for credit).
    func readSingleResponse() async throws(RPCError) -> RawUnaryResponse {
        let (first, count) = try await responses.elementsAtEnd(onCancel: { [self] in cancel() })
        guard case .message(let message) = first else {
            throw RPCError(code: .internalError, message: "the server ended the call without a response message")
        }
        guard count == 1 else {
            cancel()  // a second response ends the wait before the call's end (`elementsAtEnd`): the call may be open
            throw RPCError(code: .internalError, message: "the server sent more than one response message")
        }
        return RawUnaryResponse(message: message, trailers: trailers.withLock { $0 })
    }

    func cancel() {
        connection.run(self) { $0.cancel($1, RPCError(code: .cancelled, message: "the call was cancelled by the client")) }
    }

    /// Runs `body`, cancelling the call if the calling task is cancelled meanwhile.
    func withCancellation<Result>(_ body: () async throws(RPCError) -> Result) async throws(RPCError) -> Result {
        do {
            return try await withTaskCancellationHandler {
                try await body()
            } onCancel: {
                self.cancel()
            }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .cancelled, message: "the call was cancelled by the client")
        }
    }

    private func checkFrameSize(_ frameSize: Int, headerSize: Int) throws(RPCError) {
        guard frameSize - 4 > serverMaxFrameSize else { return }
        throw RPCError(
            code: .resourceExhausted,
            message:
                "request message of \(frameSize - Frame.minimumEncodedSize - headerSize) bytes exceeds the server's maximum frame size of \(serverMaxFrameSize) bytes"
        )
    }
}
