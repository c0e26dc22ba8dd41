import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import NIOCore
import NIOEmbedded
import Testing

/// Calls whose request stream stays open hold what they received: per connection, server-wide and in time, that is
/// bounded.
@Suite("Inbound budgets", .serialized)
struct InboundBudgetTests {
    private static func bigRequest(_ size: Int) -> SimpleRequest { SimpleRequest(payload: Array(repeating: 7, count: size)) }

    /// What a REQUEST whose stream stays open holds for its header (its metadata): the header's bytes and 64.
    private static func headerCost(_ request: ByteBuffer) -> Int {
        Int(request.getInteger(at: request.readerIndex + 14, as: UInt32.self)!) + InboundMemoryBudget.waitingMessageOverhead
    }

    private static func endStream(_ id: UInt64) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeFrame(.message, flags: .endStream, callID: id, header: NoMessage.header, payload: NoMessage.payload)
        return bytes
    }

    @Test func theCallWhoseMessagePassesTheConnectionBudgetEndsResourceExhausted() async throws {
        var configuration = ServerConfiguration()
        configuration.maxUnfinishedRequestBytesPerConnection = 1_000
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let first = harness.callID()
        let second = harness.callID()
        let path = TestService.Method.unaryCall.path
        let firstRequest = harness.request(first, path, Self.bigRequest(600), endStream: false)
        try await harness.send(firstRequest)
        #expect(try await harness.frames().isEmpty)
        // A waiting message counts its bytes and its place in the queue, and so does the header of its open call.
        let cost = Self.bigRequest(600).serializedBytes().count + InboundMemoryBudget.waitingMessageOverhead + Self.headerCost(firstRequest)
        #expect(harness.budget.usedBytes == cost)

        try await harness.send(harness.request(second, path, Self.bigRequest(600), endStream: false))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[second])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(
            refused.statusMessage == "the connection holds \(cost) bytes of unfinished requests; \(cost) more would pass its limit of 1000")

        // The first call goes on, and once its request stream ends it holds nothing against the budgets.
        try await harness.send(Self.endStream(first))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[first]?.statusCode == 0)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    /// Empty messages cost no flow-control window. Each still counts its place in the queue against the connection's
    /// unfinished-request bytes, so a call whose handler does not take them is refused once they fill the limit,
    /// while a call whose handler takes them releases each as it does, however many come.
    @Test func emptyMessagesCountTheirPlaceInTheQueue() async throws {
        let overhead = InboundMemoryBudget.waitingMessageOverhead
        var configuration = ServerConfiguration()
        var harness = try await ServerConnectionHarness(configuration: configuration)
        let heldHeader = Self.headerCost(
            harness.request(1, ServerConnectionHarness.gatedClientStream.path, nil as EmptyMessage?, endStream: false))
        await harness.close()
        let limit = 100 * overhead + heldHeader
        configuration.maxUnfinishedRequestBytesPerConnection = limit
        harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        func empties(_ id: UInt64, _ count: Int) -> ByteBuffer {
            var bytes = ByteBuffer()
            for _ in 0..<count { bytes.writeImmutableBuffer(harness.message(id, EmptyMessage())) }
            return bytes
        }

        let held = harness.callID()
        try await harness.send(
            harness.request(held, ServerConnectionHarness.gatedClientStream.path, nil as EmptyMessage?, endStream: false))
        try await harness.send(empties(held, 100))
        #expect(try await harness.frames().isEmpty)
        #expect(harness.budget.usedBytes == limit)
        try await harness.send(empties(held, 1))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[held])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(
            refused.statusMessage
                == "the connection holds \(limit) bytes of unfinished requests; \(overhead) more would pass its limit of \(limit)"
        )
        #expect(harness.budget.usedBytes == 0)

        let taken = harness.callID()
        try await harness.send(harness.request(taken, TestService.Method.streamingInputCall.path, nil as EmptyMessage?, endStream: false))
        for _ in 0..<20 { try await harness.send(empties(taken, 50)) }
        try await harness.send(harness.message(taken, nil as EmptyMessage?, endStream: true))
        let frames = try await harness.frames()
        #expect(try ServerConnectionHarness.ends(frames)[taken]?.statusCode == 0, "a thousand taken messages passed a limit of a hundred")
        let answer = try #require(frames.first { $0.type == .end && $0.callID == taken })
        let response = try answer.payload.withUnsafeReadableBytes { try StreamingInputCallResponse(serializedBytes: $0) }
        #expect(response.messageCount == 1_000)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    @Test func aSingleRequestCallIsNotGrantedCreditForItsMessage() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, TestService.Method.unaryCall.path, Self.bigRequest(1_000), endStream: false))
        // Granting it back would stop counting a message the waiting call still holds.
        #expect(try await harness.frames().isEmpty)
        #expect(harness.budget.usedBytes >= 1_000)
        await harness.close()
        #expect(harness.budget.usedBytes == 0, "a closed connection still counts bytes against the server")
    }

    @Test func streamedMessagesCountUntilGrantedBack() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        let id = harness.callID()
        let request = harness.request(id, TestService.Method.streamingInputCall.path, Self.bigRequest(2_000), endStream: false)
        try await harness.send(request)
        let frames = try await harness.frames()
        #expect(frames.contains { $0.type == .windowUpdate && $0.callID == id }, "the consumed message was not granted back")
        #expect(harness.budget.usedBytes == Self.headerCost(request), "only the open call's header is left")
        try await harness.send(Self.endStream(id))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[id]?.statusCode == 0)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    /// A call whose REQUEST leaves its stream open holds its header (its metadata) for the client as long as it waits:
    /// the header counts in the inbound budgets until END_STREAM, so that held calls with large headers are bounded
    /// by bytes, not only by their number. A call whose REQUEST ends its stream counts nothing.
    @Test func theHeaderOfACallWhoseStreamStaysOpenCountsUntilItEnds() async throws {
        var metadata = Metadata()
        for index in 0..<Metadata.maximumEntries { metadata.add("k\(index)", String(repeating: "v", count: 100)) }
        var configuration = ServerConfiguration()
        configuration.maxUnfinishedRequestBytesPerConnection = 20_000
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let path = ServerConnectionHarness.gatedClientStream.path
        let first = harness.callID()
        let firstRequest = harness.request(first, path, nil as EmptyMessage?, endStream: false, metadata: metadata)
        let cost = Self.headerCost(firstRequest)
        try #require(cost > 10_000 && cost < 20_000)
        try await harness.send(firstRequest)
        #expect(try await harness.frames().isEmpty)
        #expect(harness.budget.usedBytes == cost)
        // A second such call would pass the connection's 20,000 bytes: refused before it runs.
        let second = harness.callID()
        try await harness.send(harness.request(second, path, nil as EmptyMessage?, endStream: false, metadata: metadata))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[second])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(
            refused.statusMessage
                == "the connection holds \(cost) bytes of unfinished requests; \(cost) more would pass its limit of 20000")
        // One that ends its stream in its REQUEST is not held: it runs.
        let unary = harness.callID()
        try await harness.send(harness.request(unary, TestService.Method.unaryCall.path, SimpleRequest(), metadata: metadata))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[unary]?.statusCode == 0)
        #expect(harness.budget.usedBytes == cost)
        await harness.close()
        #expect(harness.budget.usedBytes == 0)
    }

    /// More metadata entries than `Metadata.maximumEntries` are refused before the call runs, however small each.
    @Test func aREQUESTWithTooManyMetadataEntriesIsRefused() async throws {
        var metadata = Metadata()
        for _ in 0...Metadata.maximumEntries { metadata.add("a", "") }
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        let id = harness.callID()
        try await harness.send(harness.request(id, TestService.Method.unaryCall.path, SimpleRequest(), metadata: metadata))
        let refused = try #require(try ServerConnectionHarness.ends(try await harness.frames())[id])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(refused.statusMessage == "metadata of 101 entries; at most 100 per call")
        await harness.close()
    }

    /// A call without a deadline, or of a method taking one request whatever its deadline, whose request stream
    /// stays silent ends at the request timeout; a streaming call's messages start the clock again, and a streaming
    /// call with a deadline is left to its deadline.
    @Test func aCallWithoutDeadlineWhoseRequestStreamStaysSilentEndsAtTheTimeout() async throws {
        var configuration = ServerConfiguration()
        configuration.requestIdleTimeout = .seconds(30)
        let harness = try await ServerConnectionHarness(configuration: configuration)
        try await harness.handshake()
        let silent = harness.callID()
        let unaryWithDeadline = harness.callID()
        let streaming = harness.callID()
        let streamingWithDeadline = harness.callID()
        try await harness.send(harness.request(silent, TestService.Method.unaryCall.path, Self.bigRequest(100), endStream: false))
        try await harness.send(
            harness.request(
                unaryWithDeadline, TestService.Method.unaryCall.path, Self.bigRequest(100), endStream: false,
                timeoutMicros: 3_600_000_000))
        try await harness.send(
            harness.request(
                streaming, TestService.Method.streamingInputCall.path, Self.bigRequest(100), endStream: false))
        try await harness.send(
            harness.request(
                streamingWithDeadline, TestService.Method.streamingInputCall.path, Self.bigRequest(100), endStream: false,
                timeoutMicros: 60_000_000))
        _ = try await harness.frames()

        await harness.advance(by: .seconds(20))
        var more = ByteBuffer()
        more.writeFrame(.message, callID: streaming, header: NoMessage.header, payload: Self.bigRequest(10))
        try await harness.send(more)  // the streaming call's clock starts over
        await harness.advance(by: .seconds(11))
        let ends = try ServerConnectionHarness.ends(try await harness.frames())
        #expect(ends.keys.sorted() == [silent, unaryWithDeadline], "an hour's deadline kept a unary call's request stream open")
        for id in [silent, unaryWithDeadline] {
            let end = try #require(ends[id])
            #expect(end.statusCode == StatusCode.deadlineExceeded.rawValue)
            #expect(end.statusMessage == "the client sent nothing on the call's request stream for 30s")
        }

        await harness.advance(by: .seconds(20))
        #expect(try ServerConnectionHarness.ends(try await harness.frames()).keys.sorted() == [streaming])
        await harness.advance(by: .seconds(10))
        #expect(
            try ServerConnectionHarness.ends(try await harness.frames())[streamingWithDeadline]?.statusCode
                == StatusCode.deadlineExceeded.rawValue)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    /// A method with its own request limit (those open without a key) refuses a larger message on its REQUEST or on
    /// a later MESSAGE, holding none of it; a message within the limit is served.
    @Test func aMethodsOwnRequestLimitRefusesLargerMessages() async throws {
        let harness = try await ServerConnectionHarness(keylessLimit: 64)
        try await harness.handshake()
        let path = Health.Method.check.path
        let onRequest = harness.callID()
        try await harness.send(harness.request(onRequest, path, HealthCheckRequest(service: String(repeating: "s", count: 100))))
        let onMessage = harness.callID()
        try await harness.send(harness.request(onMessage, path, HealthCheckRequest(service: ""), endStream: false))
        var more = ByteBuffer()
        more.writeFrame(
            .message, callID: onMessage, header: NoMessage.header, payload: HealthCheckRequest(service: String(repeating: "s", count: 100)))
        try await harness.send(more)
        let served = harness.callID()
        try await harness.send(harness.request(served, path, HealthCheckRequest(service: "")))
        let ends = try ServerConnectionHarness.ends(try await harness.frames())
        for id in [onRequest, onMessage] {
            let end = try #require(ends[id])
            #expect(end.statusCode == StatusCode.resourceExhausted.rawValue)
            #expect(
                end.statusMessage.hasSuffix("bytes is larger than the open (keyless) method \(path)'s limit of 64 bytes"),
                "\(end.statusMessage)")
        }
        #expect(ends[served]?.statusCode == 0)
        #expect(harness.budget.usedBytes == 0)
        await harness.close()
    }

    /// Untrusted bytes (of connections without an authenticated caller) count in a share of their own: past it they
    /// make such connections wait, but what they hold beyond it never makes the budget exhausted for the others.
    @Test func untrustedBytesPastTheirShareDoNotExhaustTheBudget() {
        let budget = InboundMemoryBudget(limit: 1_000)
        #expect(budget.untrustedLimit == 250)
        budget.adjust(by: 900, untrusted: true)
        #expect(budget.isUntrustedExhausted && !budget.isExhausted && budget.usedBytes == 900)
        budget.adjust(by: 749)
        #expect(!budget.isExhausted, "749 trusted bytes and the untrusted share of 250 are under 1,000")
        budget.adjust(by: 1)
        #expect(budget.isExhausted)
        budget.adjust(by: -900, untrusted: true)
        #expect(!budget.isUntrustedExhausted && budget.untrustedBytes == 0 && !budget.isExhausted)
    }

    /// A connection on which no caller has authenticated stops reading a partial frame once such connections hold
    /// their share, while other connections' calls still run and new connections are taken; a connection on which
    /// a call with a key has passed holds trusted bytes and reads on.
    @Test func aConnectionWithoutAnAuthenticatedCallerWaitsPastTheUntrustedShare() async throws {
        let budget = InboundMemoryBudget(limit: 100_000, untrustedLimit: 1_000)
        let hoarder = try await ServerConnectionHarness(budget: budget, authenticates: true)
        let other = try await ServerConnectionHarness(budget: budget, authenticates: true)
        try await hoarder.handshake()
        try await other.handshake()

        let big = hoarder.request(hoarder.callID(), TestService.Method.unaryCall.path, Self.bigRequest(40_000))
        try await hoarder.send(big.getSlice(at: 0, length: 20_000)!)
        #expect(budget.isUntrustedExhausted && !budget.isExhausted)
        let reads = hoarder.reads.count
        try await hoarder.requestRead()
        #expect(hoarder.reads.count == reads, "a connection without an authenticated caller read on past its share")

        let probe = other.callID()
        try await other.send(other.request(probe, TestService.Method.emptyCall.path, EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await other.frames())[probe]?.statusCode == 0, "calls elsewhere still run")
        await hoarder.close()
        #expect(budget.untrustedBytes == 0 && budget.usedBytes == 0, "the closed connection's bytes are released")

        // Fill the untrusted share again from another connection: one with an authenticated caller is not held to it.
        let squatter = try await ServerConnectionHarness(budget: budget, authenticates: true)
        try await squatter.handshake()
        let squat = squatter.request(squatter.callID(), TestService.Method.unaryCall.path, Self.bigRequest(40_000))
        try await squatter.send(squat.getSlice(at: 0, length: 20_000)!)
        #expect(budget.isUntrustedExhausted)

        let trusted = try await ServerConnectionHarness(budget: budget, authenticates: true)
        try await trusted.handshake()
        let keyed = trusted.callID()
        try await trusted.send(
            trusted.request(keyed, TestService.Method.emptyCall.path, EmptyMessage(), metadata: ["authorization": .text("k")]))
        #expect(try ServerConnectionHarness.ends(try await trusted.frames())[keyed]?.statusCode == 0)
        let untrustedBefore = budget.untrustedBytes
        let large = trusted.request(trusted.callID(), TestService.Method.unaryCall.path, Self.bigRequest(40_000))
        try await trusted.send(large.getSlice(at: 0, length: 20_000)!)
        #expect(budget.untrustedBytes == untrustedBefore, "an authenticated connection's bytes counted as untrusted")
        let trustedReads = trusted.reads.count
        try await trusted.requestRead()
        #expect(trusted.reads.count == trustedReads + 1, "an authenticated connection stopped reading at the untrusted share")
        try await trusted.send(large.getSlice(at: 20_000, length: large.readableBytes - 20_000)!)
        #expect(try ServerConnectionHarness.ends(try await trusted.frames()).values.first?.statusCode == 0)
        await trusted.close()
        await squatter.close()
        await other.close()
        #expect(budget.usedBytes == 0)
    }

    /// A native client that puts a large first request inside its REQUEST while keyless connections hold their share:
    /// the key in the REQUEST's header is checked before the rest of the frame is read, so that a valid key's request
    /// is read as trusted bytes and its call runs, and an unknown key's waits like a keyless one. Before, both waited
    /// for the frame read timeout: the call authenticates only once its frame is in, and the key is inside it.
    @Test func aLargeRequestInsideItsREQUESTIsReadOnceTheKeyInItsHeaderIsChecked() async throws {
        let budget = InboundMemoryBudget(limit: 100_000, untrustedLimit: 1_000)
        let squatter = try await ServerConnectionHarness(budget: budget, authenticates: true)
        try await squatter.handshake()
        try await squatter.send(
            squatter.request(squatter.callID(), TestService.Method.unaryCall.path, Self.bigRequest(40_000)).getSlice(at: 0, length: 20_000)!
        )
        #expect(budget.isUntrustedExhausted && !budget.isExhausted)

        for (key, accepted) in [("Bearer nobody", false), ("Bearer k", true)] {
            let client = try await ServerConnectionHarness(budget: budget, authenticates: true)
            try await client.handshake()
            let id = client.callID()
            let large = client.request(
                id, TestService.Method.unaryCall.path, Self.bigRequest(40_000), metadata: ["authorization": .text(key)])
            let untrustedBefore = budget.untrustedBytes
            try await client.send(large.getSlice(at: 0, length: 20_000)!)
            // The check answers from a task of its own.
            for _ in 0..<50 where budget.untrustedBytes != untrustedBefore || !accepted {
                try await Task.sleep(for: .milliseconds(2))
                await client.settle()
            }
            #expect((budget.untrustedBytes == untrustedBefore) == accepted, "\(key): the held bytes count as trusted only with a valid key")
            let reads = client.reads.count
            try await client.requestRead()
            #expect((client.reads.count == reads + 1) == accepted, "\(key): reading goes on only with a valid key")
            if accepted {
                try await client.send(large.getSlice(at: 20_000, length: large.readableBytes - 20_000)!)
                #expect(try ServerConnectionHarness.ends(try await client.frames())[id]?.statusCode == 0, "the call ran")
            }
            await client.close()
        }
        await squatter.close()
        #expect(budget.usedBytes == 0 && budget.untrustedBytes == 0)
    }

    /// Until a caller authenticates, a connection reads one 16 KiB buffer per event-loop pass, so that it stops
    /// reading within a read of its allowance (NIO's read loop went on for 16 reads of up to 64 KiB: a thousand
    /// keyless connections took 989 MiB); the bootstrap's 16 reads of adaptive size come back once a keyed call passed.
    @Test func aConnectionWithoutAnAuthenticatedCallerReadsSmall() async throws {
        let harness = try await ServerConnectionHarness(authenticates: true)
        try await harness.handshake()
        func readLimits() async throws -> (reads: UInt, fixed: Bool) {
            let reads = try await harness.channel.getOption(.maxMessagesPerRead).get()
            let allocator = try await harness.channel.getOption(.recvAllocator).get()
            return (reads, allocator is FixedSizeRecvByteBufferAllocator)
        }
        #expect(try await readLimits() == (1, true))
        let keyless = harness.callID()
        try await harness.send(harness.request(keyless, TestService.Method.emptyCall.path, EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[keyless]?.statusCode == 0)
        #expect(try await readLimits() == (1, true), "a call without a key lifted the limits")
        let keyed = harness.callID()
        try await harness.send(
            harness.request(keyed, TestService.Method.emptyCall.path, EmptyMessage(), metadata: ["authorization": .text("k")]))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[keyed]?.statusCode == 0)
        try await harness.send(ServerConnectionHarness.ping(1))  // the next read completes with the caller known
        #expect(try await readLimits() == (16, false))
        await harness.close()
    }

    /// HTTP/JSON connections read small from the accept until a caller authenticates, as native ones do: NIO's read
    /// loop otherwise read a burst of pipelined requests whole (about a megabyte of them) while the first one ran.
    @Test func anHTTPConnectionWithoutAnAuthenticatedCallerReadsSmall() async throws {
        let harness = try await ServerConnectionHarness(authenticates: true)
        func readLimits() async throws -> (reads: UInt, fixed: Bool) {
            let reads = try await harness.channel.getOption(.maxMessagesPerRead).get()
            let allocator = try await harness.channel.getOption(.recvAllocator).get()
            return (reads, allocator is FixedSizeRecvByteBufferAllocator)
        }
        func post(_ extra: String = "") async throws -> String {
            try await harness.send(
                ByteBuffer(
                    string: "POST /copslink.rpc.v1.Health/Check HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\(extra)\r\n{}"))
            return String(buffer: try await harness.output())
        }
        #expect(try await readLimits() == (1, true), "the first bytes, before detection, are read small too")
        let first = try await post()
        #expect(first.hasPrefix("HTTP/1.1 200"), "\(first)")
        #expect(try await readLimits() == (1, true), "a call without a key lifted the limits")
        #expect(try await post("Authorization: Bearer k\r\n").hasPrefix("HTTP/1.1 200"))
        #expect(try await post().hasPrefix("HTTP/1.1 200"))  // its head is read with the caller known
        #expect(try await readLimits() == (16, false))
        await harness.close()
    }

    /// A call of an open method whose REQUEST does not end its stream counts server-wide until its request comes;
    /// past the limit one is refused. One whose REQUEST brings its request and END_STREAM is never counted.
    @Test func openCallsAwaitingTheirRequestAreBounded() async throws {
        var configuration = ServerConfiguration()
        configuration.maxOpenCallsAwaitingRequest = 1
        let harness = try await ServerConnectionHarness(configuration: configuration, keylessLimit: 64)
        try await harness.handshake()
        let path = Health.Method.check.path
        let held = harness.callID()
        try await harness.send(harness.request(held, path, HealthCheckRequest(), endStream: false))
        let refused = harness.callID()
        try await harness.send(harness.request(refused, path, HealthCheckRequest(), endStream: false))
        let probe = harness.callID()
        try await harness.send(harness.request(probe, path, HealthCheckRequest()))
        var ends = try ServerConnectionHarness.ends(try await harness.frames())
        #expect(ends[refused]?.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(ends[refused]?.statusMessage.hasPrefix("the server already holds 1 calls of its open methods waiting") == true)
        #expect(ends[probe]?.statusCode == 0, "a call that brings its request was refused")
        #expect(ends[held] == nil)
        try await harness.send(harness.message(held, nil as HealthCheckRequest?, endStream: true))
        ends = try ServerConnectionHarness.ends(try await harness.frames())
        #expect(ends[held]?.statusCode == 0)
        let after = harness.callID()
        try await harness.send(harness.request(after, path, HealthCheckRequest(), endStream: false))
        #expect(try ServerConnectionHarness.ends(try await harness.frames())[after] == nil, "the released slot takes a new held call")
        await harness.close()
    }

    @Test func pastTheServerBudgetNewCallsAreRefusedAndPartialFramesStopReading() async throws {
        let budget = InboundMemoryBudget(limit: 1_000)
        let hoarder = try await ServerConnectionHarness(budget: budget)
        let other = try await ServerConnectionHarness(budget: budget)
        try await hoarder.handshake()
        try await other.handshake()

        let big = hoarder.request(hoarder.callID(), TestService.Method.unaryCall.path, Self.bigRequest(3_000))
        try await hoarder.send(big.getSlice(at: 0, length: 1_500)!)
        #expect(budget.isExhausted)
        let reads = hoarder.reads.count
        try await hoarder.requestRead()
        #expect(hoarder.reads.count == reads, "a connection holding a partial frame read on past the server's budget")

        let refusedID = other.callID()
        try await other.send(other.request(refusedID, TestService.Method.emptyCall.path, EmptyMessage()))
        let refused = try #require(try ServerConnectionHarness.ends(try await other.frames())[refusedID])
        #expect(refused.statusCode == StatusCode.resourceExhausted.rawValue)
        #expect(refused.statusMessage.hasPrefix("the server is over its inbound memory budget of 1000 bytes"))

        // The rest of the frame arrives: it is served, the bytes are released, and reading resumes.
        try await hoarder.send(big.getSlice(at: 1_500, length: big.readableBytes - 1_500)!)
        #expect(try ServerConnectionHarness.ends(try await hoarder.frames()).values.first?.statusCode == 0)
        #expect(budget.usedBytes == 0)
        await hoarder.advance(by: .milliseconds(300))
        #expect(hoarder.reads.count == reads + 1)
        let acceptedID = other.callID()
        try await other.send(other.request(acceptedID, TestService.Method.emptyCall.path, EmptyMessage()))
        #expect(try ServerConnectionHarness.ends(try await other.frames())[acceptedID]?.statusCode == 0)
        await hoarder.close()
        await other.close()
    }

    @Test func repeatedUnauthenticatedCallsCloseTheConnection() async throws {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        for attempt in 1...3 {
            try await harness.send(harness.request(harness.callID(), "/test.Auth/Deny", EmptyMessage()))
            let frames = try await harness.frames()
            #expect(frames.filter { $0.type == .end }.count == 1)
            let goAway = try ServerConnectionHarness.goAway(frames)
            if attempt < 3 {
                #expect(goAway == nil)
            } else {
                #expect(goAway?.code == .enhanceYourCalm)
                #expect(goAway?.message == "too many unauthenticated calls: 3")
            }
        }
        #expect(!harness.channel.isActive)
    }

    /// A connection that sent, in one write, call 1 of the gated `method` (held until the test releases it) and calls
    /// 2–4 answered UNAUTHENTICATED; with the frames the server wrote for them.
    static func gatedCallThenThreeDenied(_ method: MethodDescriptor) async throws -> (ServerConnectionHarness, [Frame]) {
        let harness = try await ServerConnectionHarness()
        try await harness.handshake()
        var bytes = harness.request(harness.callID(), method.path, EmptyMessage())
        for _ in 1...3 { bytes.writeImmutableBuffer(harness.request(harness.callID(), "/test.Auth/Deny", EmptyMessage())) }
        try await harness.send(bytes)
        return (harness, try await harness.frames())
    }

    /// Calls sent before the third UNAUTHENTICATED answer reached the client (a connection several keys share) are
    /// not cut: the GOAWAY names them, they are answered, and then the connection closes.
    @Test func callsSentBeforeTheUnauthenticatedGoAwayAreAnswered() async throws {
        let (harness, frames) = try await Self.gatedCallThenThreeDenied(ServerConnectionHarness.gatedUnary)
        #expect(frames.filter { $0.type == .end }.count == 3)
        let goAway = try ServerConnectionHarness.goAway(frames)
        #expect(goAway?.code == .enhanceYourCalm && goAway?.lastCallID == 4)
        #expect(goAway?.message == "too many unauthenticated calls: 3")
        #expect(harness.channel.isActive, "call 1 still runs")
        harness.gate.release(1)
        await harness.settle()
        let answered = try await harness.frames()
        #expect(answered.filter { $0.type == .end }.map(\.callID) == [1])
        #expect(!harness.channel.isActive)
    }

    /// A call received before the GOAWAY whose key is found invalid after it (its check waited) gets no verdict on
    /// its key: UNAVAILABLE, as not processed. Pipelined guesses earn no more answers than the limit.
    @Test func aKeyFoundInvalidAfterTheLimitGetsNoVerdict() async throws {
        let (harness, frames) = try await Self.gatedCallThenThreeDenied(ServerConnectionHarness.gatedDeny)
        #expect(try ServerConnectionHarness.goAway(frames)?.lastCallID == 4)
        harness.gate.release(1)
        await harness.settle()
        let end = try #require(try await harness.frames().first { $0.type == .end && $0.callID == 1 })
        let header = try end.header.readableBytesView.withUnsafeBytes { try EndHeader(serializedBytes: $0) }
        #expect(header.statusCode == StatusCode.unavailable.rawValue)
        #expect(header.statusMessage == "the connection sent too many unauthenticated calls; retry the call on a new connection")
        #expect(!harness.channel.isActive)
    }
}
