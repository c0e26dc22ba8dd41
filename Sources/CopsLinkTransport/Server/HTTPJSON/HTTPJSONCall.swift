import CopsLinkCore
import CopsLinkMessages
import NIOCore
import NIOPosix
import Synchronization

/// One HTTP/JSON request as a `ServerCallStream`: the handlers see the protobuf bytes the JSON body maps to and their
/// answers are mapped back, so the gateway runs exactly the code the native protocol runs (PROTOCOL.md §16).
///
/// The body is whole before the call starts (bounded by `ServerConfiguration.httpJSONMaxBodyBytes`). A unary or
/// server-streaming method reads it as one JSON object; a client-streaming method reads it as newline-delimited
/// JSON, one message per line, each mapped only when the handler asks for it.
final class HTTPJSONCall: ServerCallStream, Sendable {
    let kind: MethodKind
    let requestType: String
    let responseType: String
    private let body: [UInt8]
    private let eventLoop: any EventLoop
    private let handler: NIOLoopBound<HTTPJSONHandler>
    private let metrics: MethodMetrics?
    private let startedAt: NIODeadline
    /// The connection's: granted when the call's caller authenticated.
    private let trust: ConnectionTrust?
    /// The next unread byte of `body`, and the number of the next line (from 1).
    private let reader = Mutex<(offset: Int, line: Int)>((0, 1))
    private let finished = Atomic<Bool>(false)

    init(
        route: RPCRouter.Route, body: [UInt8], eventLoop: any EventLoop, handler: NIOLoopBound<HTTPJSONHandler>,
        metrics: MethodMetrics?, trust: ConnectionTrust? = nil
    ) {
        self.trust = trust
        kind = route.kind
        requestType = route.requestType
        responseType = route.responseType
        self.body = body
        self.eventLoop = eventLoop
        self.handler = handler
        self.metrics = metrics
        if let metrics {
            metrics.started()
            startedAt = .now()
        } else {
            startedAt = .uptimeNanoseconds(0)
        }
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func nextRequest() async throws(RPCError) -> (any MessageBytes)? {
        guard !isFinished else { throw RPCError(code: .cancelled, message: "the call has ended") }
        switch kind {
        case .unary, .serverStreaming:
            let first = reader.withLock { reader in
                defer { reader.offset = .max }
                return reader.offset == 0
            }
            guard first else { return nil }
            // An empty body is the empty message, as `{}` would be.
            let json = body.allSatisfy(Self.isWhitespace) ? Array("{}".utf8)[...] : body[...]
            do {
                return try await Self.binary(fromJSON: json, messageName: requestType)
            } catch {
                throw RPCError(code: .invalidArgument, message: "the request body is not a valid \(requestType): \(error.description)")
            }
        case .clientStreaming, .bidirectionalStreaming:
            guard let (line, number) = nextLine() else { return nil }
            do {
                return try await Self.binary(fromJSON: line, messageName: requestType)
            } catch {
                throw RPCError(
                    code: .invalidArgument,
                    message: "line \(number) of the request body is not a valid \(requestType): \(error.description)")
            }
        }
    }

    /// Bytes of JSON mapped where the handler runs (usually the connection's event loop); a larger document is
    /// mapped on NIO's shared thread pool. Mapping takes time in proportion to the bytes: a keyed client's 8 MB body
    /// of `\u0041` escapes held the event loop, and every connection on it, for 3-4 s on a debug build.
    static let inlineMappingLimit = 64 << 10

    /// `ProtoJSON.binary(fromJSON:messageName:)`, off the calling thread past `inlineMappingLimit`.
    static func binary(fromJSON json: ArraySlice<UInt8>, messageName: String) async throws(ProtoJSONError) -> [UInt8] {
        guard json.count > inlineMappingLimit else { return try ProtoJSON.binary(fromJSON: json, messageName: messageName) }
        let result: Result<[UInt8], ProtoJSONError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive {
                Result { () throws(ProtoJSONError) in try ProtoJSON.binary(fromJSON: json, messageName: messageName) }
            }
        } catch {
            // The shared pool is not running (the process is ending): map here, as a small document is.
            return try ProtoJSON.binary(fromJSON: json, messageName: messageName)
        }
        return try result.get()
    }

    /// The next line that is not blank, and its number.
    private func nextLine() -> (ArraySlice<UInt8>, Int)? {
        reader.withLock { reader in
            while reader.offset < body.count {
                let start = reader.offset
                let end = body[start...].firstIndex(of: UInt8(ascii: "\n")) ?? body.count
                reader.offset = end + 1
                let number = reader.line
                reader.line += 1
                let line = body[start..<end]
                if !line.allSatisfy(Self.isWhitespace) { return (line, number) }
            }
            return nil
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// One line of a newline-delimited JSON answer; returns once the connection has taken it (the backpressure of a
    /// slow reader reaches the handler here).
    func write(_ message: some RPCMessage) async throws(RPCError) {
        guard !isFinished else { throw RPCError(code: .cancelled, message: "the call has ended") }
        var line = try json(message.serializedBytes())
        line.append(UInt8(ascii: "\n"))
        let promise = eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        eventLoop.execute { [line] in handler.value.writeStreamLine(line, promise: promise) }
        do {
            try await promise.futureResult.get()
        } catch {
            throw RPCError(code: .cancelled, message: "the HTTP connection closed")
        }
    }

    func callerAuthenticated() { trust?.grant() }

    func finish(_ outcome: CallOutcome) {
        guard finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let response: HTTPJSONHandler.FinalResponse
        switch outcome {
        case .success(let message, let trailers):
            do throws(RPCError) {
                response = .success(
                    body: try message.map { message throws(RPCError) in try json(message.serializedBytes()) }, trailers: trailers)
            } catch {
                response = .failure(error)
            }
        case .failure(let error):
            response = .failure(error)
        }
        let code: StatusCode
        switch response {
        case .success: code = .ok
        case .failure(let error): code = error.code
        }
        metrics?.finished(code, startedAt: startedAt)
        let handler = self.handler
        eventLoop.execute { handler.value.finishCall(response) }
    }

    /// Ends the call without an answer (the connection is gone).
    func abandon() {
        if finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            metrics?.finished(.cancelled, startedAt: startedAt)
        }
    }

    private func json(_ binary: [UInt8]) throws(RPCError) -> [UInt8] {
        do {
            return try ProtoJSON.json(fromBinary: binary, messageName: responseType)
        } catch {
            throw RPCError(code: .internalError, message: "the answer could not be written as JSON: \(error.description)")
        }
    }
}
