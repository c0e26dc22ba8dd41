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
    /// The connection's: granted when the call's caller authenticated; its key is whose share of the unread-answer
    /// budget the call's answers count in.
    private let trust: ConnectionTrust?
    /// The next unread byte of `body`, the number of the next line (from 1), and the bytes and lines handed out
    /// since the handler last let the event loop serve other connections.
    private let reader = Mutex<(offset: Int, line: Int, bytesInTurn: Int, linesInTurn: Int)>((0, 1, 0, 0))
    private let finished = Atomic<Bool>(false)
    /// `ServerConfiguration.httpJSONStreamPause`.
    private let pause: Duration
    /// Counts an answer while it waits for, and is written as JSON on, NIO's shared thread pool (`jsonOffLoop`).
    private let unreadAnswers: UnreadAnswerBudget?
    /// The connection went away (`abandon`): answers still queued for the thread pool are not written as JSON.
    private let abandoned = Atomic<Bool>(false)
    /// Where large documents are mapped, in turns by key (NIO's shared thread pool).
    private let turns: ThreadPoolTurns
    /// The caller's key, once authenticated (`callerAuthenticated`): the call's turn on `turns`. Callers without a
    /// key (a server that authenticates nobody) share one turn.
    private let turnKey = Mutex("")

    init(
        route: RPCRouter.Route, body: [UInt8], eventLoop: any EventLoop, handler: NIOLoopBound<HTTPJSONHandler>,
        metrics: MethodMetrics?, trust: ConnectionTrust? = nil, pause: Duration = .milliseconds(1),
        unreadAnswers: UnreadAnswerBudget? = nil, turns: ThreadPoolTurns = .shared
    ) {
        self.trust = trust
        self.turns = turns
        self.pause = pause
        self.unreadAnswers = unreadAnswers
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
                return try await binary(fromJSON: json)
            } catch {
                throw RPCError(code: .invalidArgument, message: "the request body is not a valid \(requestType): \(error.description)")
            }
        case .clientStreaming, .bidirectionalStreaming:
            return try await nextLineMessage()?.get()
        }
    }

    /// A request stream's line that is not the message's JSON is one unusable message, and the lines after it go on
    /// (ReportSignals rejects it like a signal that does not decode, natively); a unary or server-streaming call's
    /// body is its one message, as `nextRequest` reads it.
    func nextRequestOrUnusable() async throws(RPCError) -> Result<any MessageBytes, RPCError>? {
        switch kind {
        case .unary, .serverStreaming: try await nextRequest().map { .success($0) }
        case .clientStreaming, .bidirectionalStreaming: try await nextLineMessage().map { $0.map { $0 } }
        }
    }

    /// The next line of a request stream mapped to its message, or why it cannot be; nil after the last line.
    private func nextLineMessage() async throws(RPCError) -> Result<[UInt8], RPCError>? {
        guard !isFinished else { throw RPCError(code: .cancelled, message: "the call has ended") }
        guard let (line, number, yields) = nextLine() else { return nil }
        if yields { await yieldToOtherConnections() }
        do {
            return .success(try await binary(fromJSON: line))
        } catch {
            return .failure(
                RPCError(
                    code: .invalidArgument,
                    message: "line \(number) of the request body is not a valid \(requestType): \(error.description)"))
        }
    }

    /// Bytes of JSON mapped where the handler runs (usually the connection's event loop); a larger document is
    /// mapped on NIO's shared thread pool. Mapping takes time in proportion to the bytes: a keyed client's 8 MB body
    /// of `\u0041` escapes held the event loop, and every connection on it, for 3-4 s on a debug build.
    static let inlineMappingLimit = 64 << 10

    /// The request's `ProtoJSON.binary(fromJSON:messageName:)`, off the calling thread past `inlineMappingLimit`.
    private func binary(fromJSON json: ArraySlice<UInt8>) async throws(ProtoJSONError) -> [UInt8] {
        let messageName = requestType
        let map = { @Sendable () throws(ProtoJSONError) in try ProtoJSON.binary(fromJSON: json, messageName: messageName) }
        return json.count > Self.inlineMappingLimit ? try await offLoop(map) : try map()
    }

    /// `body` on NIO's shared thread pool, in the caller's key's turn (`ThreadPoolTurns`).
    private func offLoop<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await turns.run(key: turnKey.withLock { $0 }) { Result { () throws(E) in try body() } }.get()
    }

    /// Lines (or bytes of lines) of a request stream a handler takes before it lets the event loop serve other
    /// connections. The whole body is there, so a handler that does not suspend otherwise (signals refused before
    /// the store) would run through it in one go: 100,001 lines of `{}` held the loop for 3.5 s on a debug build. A
    /// native stream's messages come at most a flow-control window at a time.
    static let linesPerTurn = 256
    static let bytesPerTurn = 64 << 10

    /// The next line that is not blank, its number, and whether the handler should first let the event loop serve
    /// others (`linesPerTurn`, `bytesPerTurn`).
    private func nextLine() -> (ArraySlice<UInt8>, Int, yields: Bool)? {
        reader.withLock { reader in
            while reader.offset < body.count {
                let start = reader.offset
                let end = body[start...].firstIndex(of: UInt8(ascii: "\n")) ?? body.count
                reader.offset = end + 1
                let number = reader.line
                reader.line += 1
                let line = body[start..<end]
                if !line.allSatisfy(Self.isWhitespace) {
                    let yields = reader.linesInTurn >= Self.linesPerTurn || reader.bytesInTurn >= Self.bytesPerTurn
                    if yields { (reader.linesInTurn, reader.bytesInTurn) = (0, 0) }
                    reader.linesInTurn += 1
                    reader.bytesInTurn += line.count
                    return (line, number, yields)
                }
            }
            return nil
        }
    }

    /// Suspends the handler for `pause` (a millisecond): a task resumed at once would run before the event loop polls
    /// its sockets (it runs every task that is due first), one resumed by a timer lets it poll them meanwhile.
    private func yieldToOtherConnections() async {
        try? await Task.sleep(for: pause)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// One line of a newline-delimited JSON answer; returns once the connection has taken it (the backpressure of a
    /// slow reader reaches the handler here).
    func write(_ message: some RPCMessage) async throws(RPCError) {
        guard !isFinished else { throw RPCError(code: .cancelled, message: "the call has ended") }
        let binary = message.serializedBytes()
        var line: [UInt8]
        if binary.count > Self.inlineMappingLimit {
            line = try await jsonOffLoop(binary)
        } else {
            line = try json(binary)
        }
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

    /// `binary` written as JSON on NIO's shared thread pool, in the caller's key's turn. It counts in the unread-answer
    /// budget until then (past it the call ends RESOURCE_EXHAUSTED), and is dropped if the connection has gone
    /// meanwhile: 1,200 connections' RequestTestData pages waited in the pool's queue, uncounted (742 MB), and were
    /// converted after their clients had closed.
    private func jsonOffLoop(_ binary: [UInt8]) async throws(RPCError) -> [UInt8] {
        let holder = try holdForThreadPool(binary.count)
        defer { unreadAnswers?.release(binary.count, for: holder) }
        return try await offLoop { () throws(RPCError) in
            guard !self.abandoned.load(ordering: .relaxed) else { throw Self.ended }
            return try self.json(binary)
        }
    }

    /// Counts `bytes` of an answer about to wait for NIO's thread pool in the unread-answer budget, or throws the call's
    /// RESOURCE_EXHAUSTED past it (counting nothing). Returns whose answers they count as, for their release (the
    /// connection's trust may change meanwhile).
    private func holdForThreadPool(_ bytes: Int) throws(RPCError) -> UnreadAnswerBudget.Holder {
        let callerKeyID = turnKey.withLock { $0 }
        let holder = UnreadAnswerBudget.holder(for: trust, callerKeyID: callerKeyID.isEmpty ? nil : callerKeyID)
        guard let unreadAnswers, !unreadAnswers.reserve(bytes, for: holder) else { return holder }
        throw RPCError(code: .resourceExhausted, message: unreadAnswers.refusal(adding: bytes, for: holder))
    }

    /// What a pool job of a call whose connection has gone answers instead of converting.
    private static let ended = RPCError(code: .cancelled, message: "the call has ended")

    func callerAuthenticated(_ caller: Caller) -> RPCError? {
        turnKey.withLock { $0 = caller.keyID }
        trust?.grant(keyID: caller.keyID)
        return unreadAnswers?.callRefusal(forKey: caller.keyID)
    }

    func finish(_ outcome: CallOutcome) {
        guard finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        switch outcome {
        case .failure(let error):
            deliver(.failure(error))
        case .success(let message, let trailers):
            let binary = message?.serializedBytes()
            let response = { @Sendable () -> HTTPJSONHandler.FinalResponse in
                do throws(RPCError) {
                    return .success(body: try binary.map { binary throws(RPCError) in try self.json(binary) }, trailers: trailers)
                } catch {
                    return .failure(error)
                }
            }
            // A large answer is written as JSON on NIO's shared thread pool, as a large request is read (a 5,000-row
            // RequestTestData page or a 650 KB account took the event loop for a second or more on a debug build).
            guard let binary, binary.count > Self.inlineMappingLimit else { return deliver(response()) }
            // Counted and dropped as `jsonOffLoop`'s are.
            let holder: UnreadAnswerBudget.Holder
            do {
                holder = try holdForThreadPool(binary.count)
            } catch {
                return deliver(.failure(error))
            }
            let job = { @Sendable () -> HTTPJSONHandler.FinalResponse in
                self.abandoned.load(ordering: .relaxed) ? .failure(Self.ended) : response()
            }
            turns.run(key: turnKey.withLock { $0 }, on: eventLoop, job).whenSuccess {
                self.unreadAnswers?.release(binary.count, for: holder)
                self.deliver($0)
            }
        }
    }

    /// Records the call's status and hands its answer to the connection, on its event loop.
    private func deliver(_ response: HTTPJSONHandler.FinalResponse) {
        switch response {
        case .success: metrics?.finished(.ok, startedAt: startedAt)
        case .failure(let error): metrics?.finished(error.code, startedAt: startedAt)
        }
        let handler = self.handler
        eventLoop.execute { handler.value.finishCall(response) }
    }

    /// Ends the call without an answer (the connection is gone).
    func abandon() {
        abandoned.store(true, ordering: .relaxed)
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
