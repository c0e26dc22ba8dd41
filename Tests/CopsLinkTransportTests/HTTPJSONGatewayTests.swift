import CopsLinkCore
import CopsLinkMessages
@_spi(ConnectionHarness) import CopsLinkTransport
import Dispatch
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

/// The HTTP/JSON gateway on one connection (`NIOAsyncTestingChannel`, virtual clock): requests in as raw HTTP/1.1
/// bytes, answers read back as bytes and parsed. The handlers are the conformance service, Health and the gated
/// methods of `ServerConnectionHarness`.
@Suite("HTTP/JSON gateway")
struct HTTPJSONGatewayTests {
    final class Connection {
        let loop = NIOAsyncTestingEventLoop()
        let channel: NIOAsyncTestingChannel
        let gate = CallGate()
        private var received: [UInt8] = []

        init(
            budget: InboundMemoryBudget? = nil, keylessLimit: Int? = nil, authenticates: Bool = false,
            unreadAnswers: UnreadAnswerBudget? = nil, threadPoolTurns: ThreadPoolTurns = .shared,
            _ configure: (inout ServerConfiguration) -> Void = { _ in }
        ) async throws {
            var configuration = ServerConfiguration()
            configuration.runsHandlersOnEventLoop = false  // handlers on the global executor, as with a real loop's hops
            configure(&configuration)
            channel = NIOAsyncTestingChannel(loop: loop)
            let channel = self.channel
            let dispatcher = ServerConnectionHarness.dispatcher(gate: gate, keylessLimit: keylessLimit, authenticates: authenticates)
            let frozen = configuration
            try await loop.executeInContext {
                try HTTPJSONGateway.configure(
                    channel.pipeline.syncOperations, dispatcher: dispatcher, configuration: frozen, budget: budget,
                    unreadAnswers: unreadAnswers, threadPoolTurns: threadPoolTurns)
            }
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).get()
        }

        func send(_ text: String) async throws {
            try await channel.writeInbound(channel.allocator.buffer(string: text))
        }

        func post(_ path: String, _ body: String, headers: [String] = []) async throws {
            let head =
                (["POST \(path) HTTP/1.1", "Host: test", "Content-Type: application/json", "Content-Length: \(body.utf8.count)"] + headers)
                .joined(separator: "\r\n")
            try await send(head + "\r\n\r\n" + body)
        }

        /// The next whole response, waiting for the handler's task (bounded: a missing answer fails the test).
        func response(limit: Duration = .seconds(10)) async throws -> Response {
            for _ in 0..<Int(limit / .milliseconds(5)) {
                while let next = try await channel.readOutbound(as: ByteBuffer.self) { received += next.readableBytesView }
                if let (response, used) = Response.parse(received) {
                    received.removeFirst(used)
                    return response
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            throw Failure(description: "no complete response; received \(String(decoding: received, as: UTF8.self))")
        }

        /// What the server wrote, as text, once it contains `marker` (or after 10 s): raw, where `response()` would
        /// skip a `100 Continue`.
        func rawText(until marker: String) async throws -> String {
            var raw: [UInt8] = []
            for _ in 0..<2_000 where !String(decoding: raw, as: UTF8.self).contains(marker) {
                while let next = try await channel.readOutbound(as: ByteBuffer.self) { raw += next.readableBytesView }
                try await Task.sleep(for: .milliseconds(5))
            }
            return String(decoding: raw, as: UTF8.self)
        }

        var isActive: Bool {
            get async {
                let channel = self.channel
                return (try? await loop.executeInContext { channel.isActive }) ?? false
            }
        }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }

        /// A response and the bytes it took, once they are all in (Content-Length or chunked).
        static func parse(_ bytes: [UInt8]) -> (Response, Int)? {
            guard let split = find(Array("\r\n\r\n".utf8), in: bytes[...]) else { return nil }
            let lines = String(decoding: bytes[..<split], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
            guard let status = Int(lines[0].split(separator: " ")[1]) else { return nil }
            if status == 100 { return parse(Array(bytes[(split + 4)...])).map { ($0.0, $0.1 + split + 4) } }
            let headers = lines.dropFirst().map { line -> (String, String) in
                let parts = line.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1].drop { $0 == " " }) : "")
            }
            var response = Response(status: status, headers: headers, body: "")
            var offset = split + 4
            if let length = response.header("content-length").flatMap(Int.init) {
                guard bytes.count - offset >= length else { return nil }
                response.body = String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
                return (response, offset + length)
            }
            // chunked
            var body: [UInt8] = []
            while true {
                guard let lineEnd = find(Array("\r\n".utf8), in: bytes[offset...]) else { return nil }
                guard let size = Int(String(decoding: bytes[offset..<lineEnd], as: UTF8.self), radix: 16) else { return nil }
                offset = lineEnd + 2
                if size == 0 {
                    guard let end = find(Array("\r\n".utf8), in: bytes[offset...]) else { return nil }
                    // trailers, if any, end with an empty line
                    var cursor = offset
                    var trailerEnd = end
                    while trailerEnd != cursor {
                        let line = String(decoding: bytes[cursor..<trailerEnd], as: UTF8.self)
                        let parts = line.split(separator: ":", maxSplits: 1)
                        response.headers.append((String(parts[0]), parts.count > 1 ? String(parts[1].drop { $0 == " " }) : ""))
                        cursor = trailerEnd + 2
                        guard let next = find(Array("\r\n".utf8), in: bytes[cursor...]) else { return nil }
                        trailerEnd = next
                    }
                    response.body = String(decoding: body, as: UTF8.self)
                    return (response, trailerEnd + 2)
                }
                guard bytes.count - offset >= size + 2 else { return nil }
                body += bytes[offset..<(offset + size)]
                offset += size + 2
            }
        }

        private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
            guard haystack.count >= needle.count else { return nil }
            var index = haystack.startIndex
            while index <= haystack.endIndex - needle.count {
                if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
                index += 1
            }
            return nil
        }
    }

    /// Requests pipelined in one write are each answered, in order (HTTP/1.1 §9.3.2): the pipelining handler hands
    /// the next request over inside the write of the previous answer's end. (With handlers on the event loop, as the
    /// server runs them, `scripts/grpc-interop/http_json.py` pipelines against a real server.)
    @Test func pipelinedRequestsAreEachAnsweredInOrder() async throws {
        let connection = try await Connection()
        func request(_ path: String, _ body: String) -> String {
            "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        try await connection.send(
            request("/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":1}"#) + request("/no.Such/Method", "{}")
                + request("/copslink.rpc.v1.Health/Check", "") + request("/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":2}"#))
        var answers: [Response] = []
        for _ in 0..<4 {
            guard let answer = try? await connection.response() else { break }
            answers.append(answer)
        }
        #expect(answers.map(\.status) == [200, 404, 200, 200], "\(answers.map(\.body))")
        guard answers.count == 4 else { return }
        #expect(answers[0].body == #"{"payload":{"body":"AA=="}}"# && answers[3].body == #"{"payload":{"body":"AAE="}}"#)
        #expect(answers[2].body == #"{"status":"SERVING"}"#)
        #expect(await connection.isActive)
    }

    @Test func aUnaryCallAnswersJSONWithItsTrailersAsHeadersAndTheConnectionStaysOpen() async throws {
        let connection = try await Connection()
        try await connection.post(
            "/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":3,"payload":{"body":"AQI="}}"#,
            headers: ["x-trace: abc", "x-blob-bin: AAE="])
        let response = try await connection.response()
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        #expect(response.body == #"{"payload":{"body":"AAEC"},"receivedSize":2}"#)
        #expect(response.header("x-trace") == "abc" && response.header("x-blob-bin") == "AAE=")
        try await connection.post("/copslink.rpc.v1.Health/Check", "")
        let health = try await connection.response()
        #expect(health.status == 200 && health.body == #"{"status":"SERVING"}"#)
        // A chunked body, and Content-Encoding identity: nothing to undo.
        try await connection.send(
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "2\r\n{}\r\n0\r\n\r\n")
        let chunked = try await connection.response()
        #expect(chunked.status == 200 && chunked.body == #"{"status":"SERVING"}"#, "\(chunked.body)")
        #expect(await connection.isActive)
    }

    @Test(arguments: [
        ("GET /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\n\r\n", 405, #""code":12,"status":"UNIMPLEMENTED""#),
        (
            "POST /copslink.rpc.v1.Nope/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", 404,
            "unknown service copslink.rpc.v1.Nope"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n{\"x\":", 400,
            "the request body is not a valid copslink.rpc.v1.HealthCheckRequest: invalid JSON at byte 5: unexpected end of the document"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\n{\"color\":\"\"}", 400,
            "field 'color': copslink.rpc.v1.HealthCheckRequest has no such field"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 415,
            "Content-Type 'text/plain' is not JSON"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", 415,
            "Content-Encoding 'gzip' is not supported; send the body uncompressed"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nx-key-bin: %%%\r\nContent-Length: 2\r\n\r\n{}", 400,
            "header x-key-bin ends in -bin but is not base64"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\ngrpc-timeout: soon\r\nContent-Length: 2\r\n\r\n{}", 400,
            "grpc-timeout 'soon' must be"
        ),
        (
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\n" + String(repeating: "a: \r\n", count: 101)
                + "Content-Length: 2\r\n\r\n{}", 431,
            #""code":8,"status":"RESOURCE_EXHAUSTED","message":"metadata of 101 entries; at most 100 per call""#
        ),
        (
            "POST /test.Auth/Deny HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 401,
            #"{"code":16,"status":"UNAUTHENTICATED","message":"no key"}"#
        )
    ])
    func failuresAreAStatusAndAJSONError(_ request: String, _ status: Int, _ fragment: String) async throws {
        let connection = try await Connection()
        try await connection.send(request)
        let response = try await connection.response()
        #expect(response.status == status, "\(response.body)")
        #expect(response.body.contains(fragment), "\(response.body)")
        #expect(response.header("content-type") == "application/json")
        // The connection still serves the next request.
        try await connection.post("/copslink.rpc.v1.Health/Check", "{}")
        #expect(try await connection.response().status == 200)
    }

    /// A body over 64 KiB is mapped on NIO's thread pool instead of where the handler runs: the same answers, the same
    /// errors, for a whole body and for a line of a stream.
    @Test func bodiesOverSixtyFourKiBAreMappedAsSmallOnesAre() async throws {
        let connection = try await Connection()
        let payload = String(repeating: "AAAA", count: 30_000)  // 120,000 characters, 90,000 bytes
        try await connection.post("/copslink.rpc.v1.TestService/UnaryCall", #"{"payload":{"body":"\#(payload)"}}"#)
        let response = try await connection.response()
        #expect(response.status == 200 && response.body.hasSuffix(#""receivedSize":90000}"#), "\(response.body.prefix(200))")
        try await connection.post("/copslink.rpc.v1.TestService/UnaryCall", #"{"payload":{"body":"\#(payload)"},"color":1}"#)
        let refused = try await connection.response()
        #expect(refused.status == 400)
        #expect(refused.body.contains("field 'color': copslink.rpc.v1.SimpleRequest has no such field"), "\(refused.body.prefix(300))")
        let line = #"{"payload":{"body":"\#(payload)"}}"#
        try await connection.post("/copslink.rpc.v1.TestService/StreamingInputCall", line + "\n" + line + "\n{\"payload\":7}\n")
        let stream = try await connection.response()
        #expect(stream.status == 400)
        #expect(stream.body.contains("line 3 of the request body is not a valid"), "\(stream.body.prefix(300))")
        try await connection.post("/copslink.rpc.v1.TestService/StreamingInputCall", line + "\n" + line + "\n")
        let streamed = try await connection.response()
        #expect(streamed.status == 200 && streamed.body == #"{"aggregatedPayloadSize":180000,"messageCount":2}"#, "\(streamed.body)")
    }

    /// An answer over 64 KiB is written as JSON on NIO's thread pool: the same answer as a small one's.
    @Test func answersOverSixtyFourKiBAreWrittenAsSmallOnesAre() async throws {
        let connection = try await Connection()
        try await connection.post("/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":90000}"#)
        let response = try await connection.response()
        // 90,000 bytes are 120,000 characters of base64.
        #expect(response.status == 200 && response.body.hasPrefix(#"{"payload":{"body":"AAECAwQF"#), "\(response.body.prefix(100))")
        #expect(response.body.utf8.count == #"{"payload":{"body":""}}"#.utf8.count + 120_000)
        try await connection.post(
            "/copslink.rpc.v1.TestService/StreamingOutputCall", #"{"responseParameters":[{"size":90000},{"size":1}]}"#)
        let streamed = try await connection.response()
        let lines = streamed.body.split(separator: "\n")
        #expect(streamed.status == 200 && lines.count == 2 && lines[0].utf8.count == 120_023, "\(streamed.body.prefix(100))")
    }

    /// An answer waiting for NIO's thread pool counts in the unread-answer budget, and one that would pass it is
    /// refused RESOURCE_EXHAUSTED (429), whole answer or stream line: 1,200 connections' RequestTestData pages had
    /// waited in the pool's queue uncounted (742 MB). Nothing of theirs stays counted.
    @Test func answersWaitingForTheThreadPoolCountInTheUnreadAnswerBudget() async throws {
        let budget = UnreadAnswerBudget(limit: 100_000)
        // Other answers held: the budget lets one answer larger than all of it through only when it holds nothing.
        #expect(budget.reserve(40_000))
        let connection = try await Connection(unreadAnswers: budget)
        try await connection.post("/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":90000}"#)
        let refused = try await connection.response()
        #expect(refused.status == 429 && refused.body.contains("RESOURCE_EXHAUSTED"), "\(refused.body.prefix(200))")
        try await connection.post(
            "/copslink.rpc.v1.TestService/StreamingOutputCall", #"{"responseParameters":[{"size":1},{"size":90000}]}"#)
        let streamed = try await connection.response()
        let lines = streamed.body.split(separator: "\n")
        #expect(streamed.status == 200 && lines.count == 2, "\(streamed.body.prefix(200))")
        #expect(lines.last?.contains(#""status":"RESOURCE_EXHAUSTED""#) == true, "the stream ends with the refusal")
        #expect(budget.usedBytes == 40_000)
        budget.release(40_000)
        let fits = try await Connection(unreadAnswers: UnreadAnswerBudget(limit: 200_000))
        try await fits.post("/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":90000}"#)
        #expect(try await fits.response().status == 200, "within the budget it is answered")
    }

    /// A large answer is written as JSON on the thread pool in its caller's key's turn (`ThreadPoolTurns`): with the
    /// pool's one worker held (by a job it has started), the keyed call's conversion waits under its key, counted in
    /// the key's share of the unread-answer budget, and is answered once the worker is free.
    @Test func largeAnswersTakeTheirKeysTurnOnTheThreadPool() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let turns = ThreadPoolTurns(pool: pool)
        let release = DispatchSemaphore(value: 0)
        // The worker must have taken this job before the call's is queued: until then the other key's turn waits too.
        await withCheckedContinuation { running in
            turns.enqueue(key: "another dealer's") {
                running.resume()
                release.wait()
            }
        }
        #expect(turns.waitingKeys.isEmpty)
        let budget = UnreadAnswerBudget(limit: 400_000, perKeyLimit: 100_000)
        let connection = try await Connection(authenticates: true, unreadAnswers: budget, threadPoolTurns: turns)
        try await connection.post(
            "/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":90000}"#, headers: ["Authorization: Bearer k"])
        var waiting: [String] = []
        for _ in 0..<2_000 where waiting.isEmpty {
            waiting = turns.waitingKeys
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(waiting == ["k"], "the conversion waits in the turn of the caller's key")
        let held = budget.usedBytes(ofKey: "k")
        #expect(held > 90_000 && held == budget.usedBytes, "and counts in the key's share of the unread-answer budget")
        // The key's second such answer would pass its share (attacker round 4: one key's waiting pages filled the
        // whole budget, and other dealers' large answers were refused): refused at once, the budget not spent.
        let second = try await Connection(authenticates: true, unreadAnswers: budget, threadPoolTurns: turns)
        try await second.post(
            "/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":90000}"#, headers: ["Authorization: Bearer k"])
        let refused = try await second.response()
        #expect(refused.status == 429 && refused.body.contains("would pass the key's share of 100000"), "\(refused.body.prefix(300))")
        #expect(!budget.isExhausted)
        // And until the key's answers drain, its new calls are refused before they run.
        try await second.post("/copslink.rpc.v1.TestService/EmptyCall", "{}", headers: ["Authorization: Bearer k"])
        let before = try await second.response()
        #expect(before.status == 429 && before.body.contains("near the key's share of 100000"), "\(before.body.prefix(300))")
        release.signal()
        let answer = try await connection.response()
        #expect(answer.status == 200 && answer.body.count > 90_000)
        #expect(budget.usedBytes == 0)
        try await pool.shutdownGracefully()
    }

    /// A head still unfinished past 32 KiB is answered 431 and the connection closed, instead of the decoder holding
    /// up to llhttp's 80 KiB of it outside the inbound budget (attacker round 4: about 125 KiB per keyless connection
    /// that trickled a 78 KB head). A whole head under that limit is decoded, and its metadata limit answers.
    @Test func aHeadStillUnfinishedPastItsLimitIs431AndTheConnectionCloses() async throws {
        let start = "POST /copslink.rpc.v1.TestService/UnaryCall HTTP/1.1\r\nHost: t\r\n"
        func filler(_ count: Int) -> String {
            (0..<count).map { "x-filler-\($0): " + String(repeating: "a", count: 1_000) + "\r\n" }.joined()
        }
        let whole = try await Connection()
        try await whole.send(start + filler(30) + "Content-Length: 2\r\n\r\n{}")
        let metadata = try await whole.response()
        #expect(metadata.status == 431 && metadata.body.contains("metadata headers take"), "\(metadata.body.prefix(200))")
        #expect(await whole.isActive, "a whole head is decoded and answered as before")

        let unfinished = try await Connection()
        try await unfinished.send(start + filler(20))
        try await unfinished.send(filler(20))
        let refused = try await unfinished.response()
        #expect(refused.status == 431, "\(refused.body.prefix(200))")
        #expect(refused.body.contains("the request's head passed 32768 bytes") && refused.body.contains("RESOURCE_EXHAUSTED"))
        #expect(await !unfinished.isActive)
    }

    /// What the decoder holds of an unfinished head counts in the inbound budget, as a keyless client's until a
    /// caller has authenticated; a keyless head past the 16-KiB allowance while keyless clients hold their share is
    /// answered 503 and closed, as a body part would be (attacker round 5: 4,000 such heads held 268 MB past a 64-MiB
    /// budget). A head within the allowance is held, counted.
    @Test func anUnfinishedHeadCountsInTheInboundBudget() async throws {
        let budget = InboundMemoryBudget(limit: 80_000)  // keyless share 20,000
        let start = "POST /copslink.rpc.v1.TestService/UnaryCall HTTP/1.1\r\nHost: t\r\n"
        let line = "x-filler: " + String(repeating: "a", count: 988) + "\r\n"  // 1,000 bytes
        let small = try await Connection(budget: budget, authenticates: true)
        try await small.send(start + String(repeating: line, count: 12))
        #expect(budget.untrustedBytes == start.utf8.count + 12_000)
        let large = try await Connection(budget: budget, authenticates: true)
        try await large.send(start + String(repeating: line, count: 17))
        let refused = try await large.response()
        #expect(
            refused.status == 503 && refused.body.contains("connections without an authenticated caller hold their share"),
            "\(refused.body.prefix(300))")
        #expect(await !large.isActive)
        #expect(await small.isActive, "within the allowance it waits for the rest of its head")
        try await small.send("Content-Length: 2\r\n\r\n{}")
        #expect(try await small.response().status == 200)
        #expect(budget.untrustedBytes == 0 && budget.usedBytes == 0, "released as the decoder handed the request over")
    }

    /// A request stream's lines are handed out 256 at a time (or 64 KiB), the handler suspended between turns (a
    /// millisecond; 200 ms here, to be seen) so that the event loop serves its other connections: 1,000 lines take
    /// three such pauses, and every line is read.
    @Test func aLongRequestStreamLetsTheEventLoopServeOthers() async throws {
        let connection = try await Connection { $0.httpJSONStreamPause = .milliseconds(200) }
        let lines = String(repeating: #"{"payload":{"body":"AQ=="}}"# + "\n", count: 1_000)
        let start = ContinuousClock.now
        try await connection.post("/copslink.rpc.v1.TestService/StreamingInputCall", lines)
        let response = try await connection.response()
        #expect(response.status == 200 && response.body == #"{"aggregatedPayloadSize":1000,"messageCount":1000}"#)
        #expect(ContinuousClock.now - start >= .milliseconds(600), "three pauses, at lines 257, 513 and 769")
    }

    /// Pipelined requests run 16 in a row, then the connection waits a millisecond of the event loop's clock, so that
    /// the loop polls its other sockets: NIOHTTP1 hands each over inside the previous answer's write, and 2,000 of
    /// them held the loop for 1.5 s. Every request is answered, in order.
    @Test func pipelinedRequestsTakeTurnsWithOtherConnections() async throws {
        let connection = try await Connection()
        func request(_ size: Int) -> String {
            let body = #"{"responseSize":\#(size)}"#
            return "POST /copslink.rpc.v1.TestService/UnaryCall HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        }
        try await connection.send((1...40).map(request).joined())
        var sizes: [Int] = []
        func readAnswers() async throws {
            while let answer = try? await connection.response(limit: .milliseconds(100)) {
                sizes.append(answer.body.count)
            }
        }
        try await readAnswers()
        #expect(sizes.count == 17, "the first and 16 pipelined behind it, then a pause")
        while sizes.count < 40 {
            let before = sizes.count
            await connection.loop.advanceTime(by: .milliseconds(1))
            try await readAnswers()
            if sizes.count == before { break }
        }
        #expect(sizes.count == 40)
        #expect(sizes == (1...40).map { #"{"payload":{"body":""#.count + (($0 + 2) / 3) * 4 + 3 }, "in order")
    }

    @Test func aServerStreamIsNewlineDelimitedJSONAndAnErrorAfterItStartsIsALastLine() async throws {
        let connection = try await Connection()
        try await connection.post(
            "/copslink.rpc.v1.TestService/StreamingOutputCall", #"{"responseParameters":[{"size":1},{"size":2}]}"#)
        let response = try await connection.response()
        #expect(response.status == 200 && response.header("content-type") == "application/x-ndjson")
        #expect(response.body == "{\"payload\":{\"body\":\"AA==\"}}\n{\"payload\":{\"body\":\"AAE=\"}}\n")
        try await connection.post(
            "/copslink.rpc.v1.TestService/StreamingOutputCall",
            #"{"responseParameters":[{"size":1}],"responseStatus":{"code":9,"message":"bm8="}}"#, headers: ["x-echo: hi"])
        let failed = try await connection.response()
        #expect(failed.status == 200)
        #expect(failed.header("x-echo") == "hi", "the error's metadata comes as trailers")
        #expect(
            failed.body
                == "{\"payload\":{\"body\":\"AA==\"}}\n{\"error\":{\"code\":9,\"status\":\"FAILED_PRECONDITION\",\"message\":\"no\"}}\n")
    }

    @Test func aClientStreamReadsOneMessagePerLineAndNamesABadLine() async throws {
        let connection = try await Connection()
        let lines = #"{"payload":{"body":"AQ=="}}"# + "\n\n" + #"{"payload":{"body":"AQID"}}"# + "\n"
        try await connection.post("/copslink.rpc.v1.TestService/StreamingInputCall", lines)
        let response = try await connection.response()
        #expect(response.status == 200 && response.body == #"{"aggregatedPayloadSize":4,"messageCount":2}"#)
        try await connection.post("/copslink.rpc.v1.TestService/StreamingInputCall", "{}\n{\"payload\":7}\n")
        let bad = try await connection.response()
        #expect(bad.status == 400)
        #expect(bad.body.contains("line 2 of the request body is not a valid copslink.rpc.v1.StreamingInputCallRequest"), "\(bad.body)")
    }

    @Test func aBodyOverTheLimitIs413AndTheConnectionCloses() async throws {
        let connection = try await Connection { $0.httpJSONMaxBodyBytes = 64 }
        try await connection.post("/copslink.rpc.v1.Health/Check", "{\"service\":\"" + String(repeating: "x", count: 100) + "\"}")
        let response = try await connection.response()
        #expect(response.status == 413)
        #expect(response.body.contains("the request body is larger than the server's limit of 64 bytes"))
        #expect(response.header("connection") == "close")
        #expect(!(await connection.isActive))
    }

    /// A `Content-Length` past `Int.max` (the HTTP parser takes up to 2^64 − 1) is over the limit at once: it was
    /// read as no length, answered `100 Continue`, and refused only once the limit's worth of body had come.
    @Test func aContentLengthPastIntMaxIs413BeforeAnyBody() async throws {
        let connection = try await Connection { $0.httpJSONMaxBodyBytes = 64 }
        try await connection.send(
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                + "Content-Length: 18446744073709551615\r\nExpect: 100-continue\r\n\r\n")
        let response = try await connection.response()
        #expect(response.status == 413)
        #expect(response.body.contains("the request body is larger than the server's limit of 64 bytes"))
        #expect(!(await connection.isActive))
    }

    /// A method open without a key takes bodies up to its own limit, from `Content-Length` or as the body arrives;
    /// other methods keep the server's.
    @Test(arguments: [true, false])
    func aBodyOverAKeylessMethodsLimitIs413(chunked: Bool) async throws {
        let connection = try await Connection(keylessLimit: 64)
        let body = "{\"service\":\"" + String(repeating: "x", count: 100) + "\"}"
        if chunked {
            try await connection.send(
                "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n")
        } else {
            try await connection.post("/copslink.rpc.v1.Health/Check", body)
        }
        let response = try await connection.response()
        #expect(response.status == 413)
        #expect(
            response.body.contains(
                "the request body is larger than the open (keyless) method /copslink.rpc.v1.Health/Check's limit of 64 bytes"),
            "\(response.body)")
        #expect(!(await connection.isActive))

        let other = try await Connection(keylessLimit: 64)
        try await other.post(
            "/copslink.rpc.v1.TestService/UnaryCall", "{\"payload\":{\"body\":\"" + String(repeating: "A", count: 200) + "\"}}")
        let otherResponse = try await other.response()
        #expect(otherResponse.status == 200, "\(otherResponse.body)")
    }

    @Test func theDeadlineFromGrpcTimeoutAnswers504() async throws {
        let connection = try await Connection()
        // 20 s: the call checks its deadline against the real clock before its handler starts, and a loaded machine
        // took 200 ms to get there; the virtual clock then passes it.
        try await connection.post("/test.Gate/Unary", "{}", headers: ["grpc-timeout: 20S"])
        await connection.loop.advanceTime(by: .seconds(21))
        let response = try await connection.response()
        #expect(response.status == 504)
        #expect(
            response.body.contains(
                #""status":"DEADLINE_EXCEEDED","message":"the call's deadline of 20s passed before the handler finished""#),
            "\(response.body)")
    }

    @Test func aRequestNotReceivedInTimeIs408() async throws {
        let connection = try await Connection { $0.frameReadTimeout = .seconds(5) }
        try await connection.send("POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{")
        await connection.loop.advanceTime(by: .seconds(6))
        let response = try await connection.response()
        #expect(response.status == 408)
        #expect(!(await connection.isActive))
    }

    /// A head trickled in and never finished (the decoder holds it) is timed from its first byte, not left to the
    /// idle timeout.
    @Test func aHeadThatNeverEndsIs408() async throws {
        let connection = try await Connection {
            $0.frameReadTimeout = .seconds(5)
            $0.idleTimeout = .seconds(300)
        }
        try await connection.send("POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nX-Slow: a")
        await connection.loop.advanceTime(by: .seconds(4))
        try await connection.send("aaaa")
        #expect(await connection.isActive)
        await connection.loop.advanceTime(by: .seconds(2))
        let response = try await connection.response()
        #expect(response.status == 408)
        #expect(response.body.contains("the request was not received within 5s"), "\(response.body)")
        #expect(!(await connection.isActive))
    }

    /// Bytes that are not HTTP/1.1 get NIOHTTP1's `400` and the connection closes at once, not at the read timeout
    /// (which used to add a `408` after the `400`).
    @Test func malformedHTTPIs400AndClosesAtOnce() async throws {
        let connection = try await Connection()
        try await connection.send("POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
        let response = try await connection.response()
        #expect(response.status == 400)
        #expect(!(await connection.isActive), "a malformed request's connection stays open")
    }

    /// A refused request is answered at once, but its body is still read through: one that keeps trickling is cut
    /// off at the read timeout like any other request.
    @Test func theBodyOfARefusedRequestMustArriveInTimeToo() async throws {
        let connection = try await Connection { $0.frameReadTimeout = .seconds(5) }
        try await connection.send("POST /copslink.rpc.v1.Nope/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"a\":")
        #expect(try await connection.response().status == 404)
        await connection.loop.advanceTime(by: .seconds(4))
        #expect(await connection.isActive)
        await connection.loop.advanceTime(by: .seconds(2))
        #expect(!(await connection.isActive))
    }

    /// Request bodies count against the server's inbound budget while they are held: past it, a new request, or more
    /// of a body, on any connection is refused 503 RESOURCE_EXHAUSTED (and that connection closed); every byte
    /// leaves the budget again.
    @Test func bodiesCountAgainstTheServersInboundBudget() async throws {
        let budget = InboundMemoryBudget(limit: 16)
        let holding = try await Connection(budget: budget)
        try await holding.send(
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n{\"service\":\"0123456789")
        for _ in 0..<100 where budget.usedBytes == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(budget.usedBytes == 22 && budget.isExhausted)
        let refused = try await Connection(budget: budget)
        try await refused.post("/copslink.rpc.v1.Health/Check", "{}")
        let response = try await refused.response()
        #expect(response.status == 503)
        #expect(response.body.contains("the server is over its inbound memory budget of 16 bytes; retry later or on another server"))
        #expect(!(await refused.isActive))
        // The connection that holds the bytes is shed too when more of its body arrives over the budget.
        try await holding.send("0123456789\"}      ")
        #expect(try await holding.response().status == 503)
        #expect(!(await holding.isActive))
        #expect(budget.usedBytes == 0, "every body byte left the budget")
    }

    /// Bodies on connections without an authenticated caller count in the budget's untrusted share: past it such a
    /// connection's body may grow to the small allowance (so a first call can still authenticate it) and is then
    /// answered 503, while one on which a call with a key has passed still sends large bodies.
    @Test func bodiesWithoutAnAuthenticatedCallerCountInTheirShare() async throws {
        let budget = InboundMemoryBudget(limit: 1 << 20, untrustedLimit: 1_000)
        let allowance = InboundMemoryBudget.untrustedAllowance
        let large = "{\"service\":\"" + String(repeating: "s", count: allowance + 100) + "\"}"
        func head(_ length: Int, _ extra: String = "") -> String {
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\(extra)\r\n"
        }
        let holding = try await Connection(budget: budget, authenticates: true)
        try await holding.send(head(large.utf8.count) + String(large.prefix(allowance / 2)))
        for _ in 0..<100 where budget.usedBytes == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(budget.isUntrustedExhausted && !budget.isExhausted)

        let refused = try await Connection(budget: budget, authenticates: true)
        try await refused.post("/copslink.rpc.v1.Health/Check", "{}")
        #expect(try await refused.response().status == 200, "a small first request is within the allowance")
        try await refused.post("/copslink.rpc.v1.Health/Check", large)
        let response = try await refused.response()
        #expect(response.status == 503)
        #expect(response.body.contains("connections without an authenticated caller hold their share of 1000 bytes"), "\(response.body)")

        let keyed = try await Connection(budget: budget, authenticates: true)
        try await keyed.post("/copslink.rpc.v1.Health/Check", "{}", headers: ["Authorization: Bearer k"])
        #expect(try await keyed.response().status == 200)
        try await keyed.post("/copslink.rpc.v1.Health/Check", large)
        let answered = try await keyed.response()
        #expect(answered.status != 503, "a connection with an authenticated caller was held to the untrusted share: \(answered.body)")
        try await holding.channel.close().get()
        for _ in 0..<100 where budget.usedBytes != 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(budget.usedBytes == 0 && budget.untrustedBytes == 0, "every body byte left the budget")
    }

    /// A new connection's first request whose body passes the allowance while keyless connections hold their share:
    /// its key is checked before the body is read on (a call authenticates only once its whole body is in), and with
    /// a valid key the body is read as trusted and the call runs. Without that check it was answered 503.
    @Test func aLargeFirstBodyWithAValidKeyIsReadOnceTheKeyIsChecked() async throws {
        let budget = InboundMemoryBudget(limit: 1 << 20, untrustedLimit: 1_000)
        let allowance = InboundMemoryBudget.untrustedAllowance
        let large = "{\"service\":\"" + String(repeating: "s", count: 3 * allowance) + "\"}"
        let holding = try await Connection(budget: budget, authenticates: true)
        try await holding.send(
            "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: \(large.utf8.count)\r\n\r\n"
                + String(large.prefix(allowance / 2)))
        for _ in 0..<100 where budget.usedBytes == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(budget.isUntrustedExhausted && !budget.isExhausted)

        let keyed = try await Connection(budget: budget, authenticates: true)
        try await keyed.post("/copslink.rpc.v1.Health/Check", large, headers: ["Authorization: Bearer k"])
        let answered = try await keyed.response()
        #expect(answered.status != 503, "a valid key's large first body was held to the untrusted share: \(answered.body)")
        #expect(answered.status == 404 && answered.body.contains("NOT_FOUND"), "the call ran: \(answered.status) \(answered.body)")

        let unknown = try await Connection(budget: budget, authenticates: true)
        try await unknown.post("/copslink.rpc.v1.Health/Check", large, headers: ["Authorization: Bearer nobody"])
        let refused = try await unknown.response()
        #expect(refused.status == 503, "a key the check refused: \(refused.status) \(refused.body)")
        try await holding.channel.close().get()
        try await keyed.channel.close().get()
        for _ in 0..<100 where budget.usedBytes != 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(budget.usedBytes == 0 && budget.untrustedBytes == 0, "every body byte left the budget")
    }

    /// `Expect: 100-continue` gets `100 Continue` from HTTP/1.1 clients only: an HTTP/1.0 client must have it ignored
    /// (RFC 9110 §10.1.1). The connection fuzzer's HTTP/1.0 request got `HTTP/1.0 100 Continue` before its answer.
    @Test func onlyAnHTTP11ClientIsToldToContinue() async throws {
        for (version, continues) in [("HTTP/1.1", true), ("HTTP/1.0", false)] {
            let connection = try await Connection()
            try await connection.send(
                "POST /copslink.rpc.v1.Health/Check \(version)\r\nHost: t\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}")
            let text = try await connection.rawText(until: "HTTP/1.1 200")
            #expect(text.contains("HTTP/1.1 200"), "\(version): \(text)")
            #expect(text.hasPrefix("HTTP/1.1 "), "\(version): every answer is HTTP/1.1: \(text)")
            #expect(text.contains("100 Continue") == continues, "\(version): \(text)")
        }
    }

    /// A request refused from its head alone gets its final answer, not `100 Continue` first: that invited a body
    /// only to throw it away.
    @Test func aRequestRefusedFromItsHeadIsNotToldToContinue() async throws {
        for (request, status) in [
            ("GET /copslink.rpc.v1.Health/Check", "405"), ("POST /no.Such/Method", "404"),
            ("POST /copslink.rpc.v1.Health/Check", "415")
        ] {
            let connection = try await Connection()
            let type = status == "415" ? "text/plain" : "application/json"
            try await connection.send(
                "\(request) HTTP/1.1\r\nHost: t\r\nContent-Type: \(type)\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            let text = try await connection.rawText(until: "HTTP/1.1 \(status)")
            #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(request): \(text)")
            #expect(!text.contains("100 Continue"), "\(request): \(text)")
        }
    }

    @Test func repeatedUnauthenticatedCallsCloseTheConnection() async throws {
        let connection = try await Connection { $0.maxUnauthenticatedCalls = 2 }
        try await connection.post("/test.Auth/Deny", "")
        #expect(try await connection.response().header("connection") == nil)
        try await connection.post("/test.Auth/Deny", "")
        let second = try await connection.response()
        #expect(second.status == 401 && second.header("connection") == "close")
        #expect(!(await connection.isActive))
    }

    @Test func anIdleConnectionIsClosed() async throws {
        let connection = try await Connection { $0.idleTimeout = .seconds(10) }
        await connection.loop.advanceTime(by: .seconds(9))
        #expect(await connection.isActive)
        await connection.loop.advanceTime(by: .seconds(2))
        #expect(!(await connection.isActive))
    }

    /// `--max-connection-age` applies to HTTP/JSON keep-alive connections too (it did not: a keep-alive client kept
    /// its connection for ever): an idle one closes at its age (±10 %); one with an answer in progress closes after
    /// that answer, which says `Connection: close`.
    @Test func aConnectionPastItsMaximumAgeDrains() async throws {
        let idle = try await Connection {
            $0.maxConnectionAge = .seconds(100)
            $0.idleTimeout = nil
        }
        await idle.loop.advanceTime(by: .seconds(89))
        #expect(await idle.isActive)
        await idle.loop.advanceTime(by: .seconds(22))
        #expect(!(await idle.isActive), "closed within 110 % of its age")

        let busy = try await Connection {
            $0.maxConnectionAge = .seconds(100)
            $0.idleTimeout = nil
        }
        try await busy.post("/copslink.rpc.v1.Health/Check", "")
        #expect(try await busy.response().header("connection") == nil, "young: kept alive")
        try await busy.post(ServerConnectionHarness.gatedUnary.path, "{}")
        try await Task.sleep(for: .milliseconds(20))
        await busy.loop.advanceTime(by: .seconds(111))
        #expect(await busy.isActive, "open while its answer is pending")
        busy.gate.release(2)  // the connection's second call
        let answer = try await busy.response()
        #expect(answer.status == 200 && answer.header("connection") == "close")
        for _ in 0..<200 where await busy.isActive { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!(await busy.isActive))
    }

    /// Counts the `read`s that reach the head of the pipeline (the socket).
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        // @unchecked: used on the channel's loop only, and read by the test once the loop is idle.
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// A client that does not read its answers: while the connection is unwritable the socket is not read and a
    /// request that arrives waits to run; once writable, the request runs and reading resumes; unwritable for the
    /// unwritable timeout, the connection closes.
    @Test func whileUnwritableNothingIsReadOrRunAndAfterTheTimeoutTheConnectionCloses() async throws {
        let counter = ReadCounter()
        let connection = try await Connection { $0.unwritableTimeout = .seconds(30) }
        let channel = connection.channel
        try await connection.loop.executeInContext { try channel.pipeline.syncOperations.addHandler(counter, position: .first) }
        func setWritable(_ writable: Bool) async throws {
            channel.isWritable = writable
            try await connection.loop.executeInContext { channel.pipeline.fireChannelWritabilityChanged() }
        }
        func reads() async throws -> Int { try await connection.loop.executeInContext { counter.reads } }

        try await setWritable(false)
        try await connection.loop.executeInContext { channel.read() }
        #expect(try await reads() == 0, "no read while unwritable")
        try await connection.post("/copslink.rpc.v1.Health/Check", "")
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil, "the request waits")
        try await setWritable(true)
        let health = try await connection.response()
        #expect(health.status == 200 && health.body == #"{"status":"SERVING"}"#)
        // The withheld read, passed on; the pipelining handler holds it until the answer has ended.
        #expect(try await reads() == 1)

        try await setWritable(false)
        await connection.loop.advanceTime(by: .seconds(29))
        #expect(await connection.isActive)
        await connection.loop.advanceTime(by: .seconds(1))
        #expect(!(await connection.isActive))
    }

    /// An unwritable connection holds the high-water mark in the server's unread-answer budget until it is writable
    /// again; one that becomes unwritable while the budget has no room for it is closed at once, not after the
    /// unwritable timeout (PROTOCOL.md §18).
    @Test func aConnectionThatWouldPassTheUnreadAnswerBudgetIsClosed() async throws {
        let budget = UnreadAnswerBudget(limit: 150_000)
        let setUp: (inout ServerConfiguration) -> Void = { $0.outboundHighWaterMark = 100_000 }
        let first = try await Connection(unreadAnswers: budget, setUp)
        let second = try await Connection(unreadAnswers: budget, setUp)
        func setWritable(_ connection: Connection, _ writable: Bool) async throws {
            let channel = connection.channel
            channel.isWritable = writable
            try await connection.loop.executeInContext { channel.pipeline.fireChannelWritabilityChanged() }
        }
        try await setWritable(first, false)
        #expect(budget.usedBytes == 100_000)
        try await setWritable(second, false)
        await second.loop.run()
        #expect(!(await second.isActive), "no room for it: closed")
        #expect(await first.isActive)
        #expect(budget.usedBytes == 100_000)
        try await setWritable(first, true)
        #expect(budget.usedBytes == 0)
        try await setWritable(first, false)
        _ = try? await first.channel.close()
        #expect(budget.usedBytes == 0, "released when the connection closed while unwritable")
    }

    /// The client's FIN closes the connection at once, idle or not, and a request in progress is cancelled: a client
    /// that closed its socket sends the same FIN, and its abandoned requests used to run to their end.
    @Test func theClientsFinClosesTheConnectionAndCancelsTheRequestInProgress() async throws {
        let idle = try await Connection()
        let idleChannel = idle.channel
        try await idle.loop.executeInContext { idleChannel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        #expect(!(await idle.isActive))

        let busy = try await Connection()
        let channel = busy.channel
        // The gated method holds the call (the connection's first, id 1) until the test lets it pass.
        try await busy.post(ServerConnectionHarness.gatedUnary.path, "{}")
        for _ in 0..<200 where !busy.gate.isHolding(1) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(busy.gate.isHolding(1), "the handler runs")
        try await busy.loop.executeInContext { channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        #expect(!(await busy.isActive), "closed with its request running")
        for _ in 0..<200 where !busy.gate.wasCancelled(1) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(busy.gate.wasCancelled(1) && !busy.gate.isHolding(1), "the handler's task was cancelled")
    }
}
