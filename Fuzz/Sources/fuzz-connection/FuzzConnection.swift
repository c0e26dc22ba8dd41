// libFuzzer target: bytes from a client through a whole server connection.
//
// The server pipeline TCPServer installs on each accepted connection (ServerConnectionHandler, reading frames with
// FrameReader) runs on an NIOAsyncTestingChannel, with a router serving the conformance TestService and Health; call
// handlers run as tasks on the channel's event loop, as in production. The input is
//
//     byte 0   bit 0: prepend a valid preface ("COPSLINK" + u32 1) so that the fuzzer starts past the handshake
//              bits 1-2: the stream is written in 1 + n chunks
//              bits 3-5: then virtual time advances by 0, 0, 1, 5, 11, 61, 301 or 1000 seconds (deadlines,
//                        handshake, keepalive and idle timers)
//              bit 6: expanded mode (ExpandedStream.swift): the rest is a program of 4-byte operations that expands
//                     into large frames and many calls (megabytes from a few bytes), written in 64 KiB reads;
//                     bits 0-2 are then ignored
//     byte 1-2 where the stream is split into chunks (position = count × byte / 256)
//     rest     the byte stream a client sends
//
// After each chunk the event loop runs and the outbound bytes are collected; then the channel closes and the loop
// runs until the handlers are done. Invariants: no crash (ASan), no leak (LeakSanitizer), bounded memory
// (-rss_limit_mb), and everything the server wrote is either one plain-text `copslink: …` line (a preface error) or
// a sequence of well-formed frames a client may receive, each header decoding with its type's codec, or (HTTP/JSON,
// PROTOCOL.md §18) a sequence of complete HTTP/1.1 responses. The resource
// oracle: after every chunk the bytes the connection counts against the server's inbound budget are within the
// connection's bounds (unfinished requests + one partial frame), and once the connection is closed it counts none.
//
// COPSLINK_FUZZ_MAKE_CORPUS=<dir> writes the seed corpus (Corpus.swift) into <dir> and exits instead of fuzzing.
import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
@_spi(ConnectionHarness) import CopsLinkTransport
import CopsLinkWire
import Dispatch
import FuzzSupport
import Logging
import NIOCore
import NIOEmbedded

/// One event loop for every input: its virtual clock only moves forward, which the server does not mind.
let loop = NIOAsyncTestingEventLoop()

let dispatcher: CallDispatcher = {
    var router = RPCRouter()
    ConformanceService().registerMethods(with: &router)
    HealthService(services: router.services + [Health.serviceName]).registerMethods(with: &router)
    return CallDispatcher(router: router)
}()

/// Smaller than the defaults, so that inputs reaching the limits run fast under ASan; the bounds scale with them.
let configuration: ServerConfiguration = {
    var configuration = ServerConfiguration()
    configuration.limits.maxFrameSize = 1 << 20
    configuration.maxUnfinishedRequestBytesPerConnection = 2 << 20
    configuration.maxBufferedInboundBytes = 64 << 20
    return configuration
}()
/// The server's inbound budget, shared by every input's connection: it must be back to 0 after each.
let budget = InboundMemoryBudget(limit: configuration.maxBufferedInboundBytes)
/// What one connection may count against it: its unfinished requests, and the storage of one partial frame in its
/// reader (a buffer grown by doubling: up to twice the frame) plus one read.
let connectionBound = configuration.maxUnfinishedRequestBytesPerConnection + 2 * (4 + configuration.limits.maxFrameSize) + (64 << 10)
let quiet = Logger(label: "fuzz-connection", factory: { _ in SwiftLogNoOpLogHandler() })
let timeSteps: [Int64] = [0, 0, 1, 5, 11, 61, 301, 1000]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let done = DispatchSemaphore(value: 0)
    Task {
        await runConnection(input)
        done.signal()
    }
    done.wait()
    return 0
}

func runConnection(_ input: [UInt8]) async {
    let control = input[0]
    var stream: [UInt8]
    var cuts: [Int]
    if control & 64 != 0 {
        stream = ExpandedStream.expand(program: input[3...], limits: configuration.limits)
        cuts = Array(stride(from: 0, to: stream.count, by: 64 << 10)) + [stream.count]
    } else {
        stream = control & 1 == 1 ? Preface.magic + [0, 0, 0, 1] : []
        stream += input[3...]
        let chunkCount = 1 + Int(control >> 1 & 3)
        cuts = [input[1], input[2], input[1] ^ input[2]].prefix(chunkCount - 1).map { stream.count * Int($0) / 256 }
        cuts = (cuts + [0, stream.count]).sorted()
    }

    let channel = NIOAsyncTestingChannel(loop: loop)
    do {
        try await loop.executeInContext {
            try TCPServer.installConnectionHandlers(
                on: channel, configuration: configuration, dispatcher: dispatcher, logger: quiet, budget: budget)
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000))
    } catch {
        fail("cannot set up the channel: \(error)")
    }
    var output = ByteBuffer()
    for (start, end) in zip(cuts, cuts.dropFirst()) where start < end {
        guard channel.isActive else { break }
        do {
            try await channel.writeInbound(ByteBuffer(bytes: stream[start..<end]))
        } catch {
            break  // the server closed the channel; later bytes have nowhere to go
        }
        await loop.run()
        await drain(channel, into: &output)
        check(
            budget.usedBytes <= connectionBound,
            "the connection counts \(budget.usedBytes) inbound bytes, more than its bound of \(connectionBound)")
    }
    let advance = timeSteps[Int(control >> 3 & 7)]
    if advance > 0, channel.isActive {
        await loop.advanceTime(by: .seconds(advance))
        await drain(channel, into: &output)
    }
    _ = try? await channel.close()
    // Let cancelled handlers finish on the loop.
    for _ in 0..<4 {
        await loop.run()
        await Task.yield()
    }
    await drain(channel, into: &output)
    check(budget.usedBytes == 0, "the closed connection still counts \(budget.usedBytes) bytes against the server's budget")
    checkOutput(output)
}

func drain(_ channel: NIOAsyncTestingChannel, into output: inout ByteBuffer) async {
    while let next = try? await channel.readOutbound(as: ByteBuffer.self) {
        var buffer = next
        output.writeBuffer(&buffer)
    }
}

/// The server's bytes must be one preface-error line, well-formed frames that a client accepts, or (a connection
/// whose first bytes were an HTTP request line) well-formed HTTP/1.1 responses.
func checkOutput(_ output: ByteBuffer) {
    var output = output
    if output.readableBytesView.starts(with: Array("HTTP/1.1 ".utf8)) {
        return checkHTTPResponses(Array(output.readableBytesView))
    }
    if output.readableBytesView.starts(with: Array("copslink: ".utf8)) {
        let text = output.readString(length: output.readableBytes)!
        check(
            text.hasSuffix("\n") && text.firstIndex(of: "\n") == text.index(before: text.endIndex),
            "preface error is not one line: \(text.debugDescription)")
        return
    }
    var decoder = FrameDecoder(limits: FrameLimits(maxFrameSize: Int(UInt32.max), maxHeaderSize: Int(UInt32.max)), expectsPreface: false)
    while output.readableBytes > 0 {
        let next: InboundFrame?
        do {
            next = try decoder.decodeNext(&output)
        } catch {
            fail("the server wrote a malformed frame: \(error)")
        }
        guard case .frame(let frame)? = next else {
            fail("the server's output ends in \(output.readableBytes) bytes of a partial frame")
        }
        checkFrame(frame)
    }
}

func checkFrame(_ frame: Frame) {
    func header<H: ProtobufCCodable>(_ type: H.Type) {
        let decoded = frame.header.readableBytesView.withUnsafeBytes { try? H(serializedBytes: $0) }
        check(decoded != nil, "the server wrote a \(frame.type) frame whose header is not a valid \(H.protoName)")
    }
    switch frame.type {
    case .settings: if !frame.flags.contains(.ack) { header(SettingsHeader.self) }
    case .end: header(EndHeader.self)
    case .windowUpdate: header(WindowUpdateHeader.self)
    case .goAway: header(GoAwayHeader.self)
    case .ping: check(frame.payload.readableBytes == 8, "the server wrote a PING with \(frame.payload.readableBytes) payload bytes")
    case .message: check(frame.header.readableBytes == 0, "the server wrote a MESSAGE with a header")
    case .request, .cancel: fail("the server wrote a \(frame.type) frame, which only clients send")
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    writeCorpusIfAsked(writeCorpus(to:))
    return 0
}

/// Complete HTTP/1.1 responses, back to back: a status line, headers, and the body its `content-length` or chunked
/// encoding announces (none for 1xx). Everything the server wrote must be consumed; only a streamed answer (chunked)
/// may stop after a whole chunk, when the channel closed under it.
func checkHTTPResponses(_ bytes: [UInt8]) {
    func find(_ needle: String, from start: Int) -> Int? {
        let pattern = Array(needle.utf8)
        guard bytes.count >= pattern.count else { return nil }
        var index = start
        while index <= bytes.count - pattern.count {
            if bytes[index..<(index + pattern.count)].elementsEqual(pattern) { return index }
            index += 1
        }
        return nil
    }
    var offset = 0
    while offset < bytes.count {
        guard let headEnd = find("\r\n\r\n", from: offset) else { fail("an HTTP response head is not complete") }
        let lines = String(decoding: bytes[offset..<headEnd], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]), (100...599).contains(status) else {
            fail("malformed HTTP status line: \(lines[0].debugDescription)")
        }
        var length: Int?
        var chunked = false
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { fail("malformed HTTP header line: \(line.debugDescription)") }
            let name = parts[0].lowercased()
            let value = parts[1].drop { $0 == " " }
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding", value.lowercased() == "chunked" { chunked = true }
        }
        offset = headEnd + 4
        if status < 200 { continue }
        if chunked {
            while true {
                // A stream the connection's close cut off after a whole chunk: the last response may end here.
                if offset == bytes.count { return }
                guard let lineEnd = find("\r\n", from: offset),
                    let size = Int(String(decoding: bytes[offset..<lineEnd], as: UTF8.self), radix: 16)
                else { fail("malformed chunk size line") }
                offset = lineEnd + 2
                if size == 0 {
                    // Trailers, then an empty line.
                    while true {
                        guard let end = find("\r\n", from: offset) else { fail("unterminated HTTP trailers") }
                        let empty = end == offset
                        offset = end + 2
                        if empty { break }
                    }
                    break
                }
                guard bytes.count - offset >= size + 2 else { fail("an HTTP chunk runs past the server's output") }
                offset += size + 2
            }
        } else {
            guard let length else { fail("an HTTP response without content-length or chunked encoding") }
            guard bytes.count - offset >= length else { fail("an HTTP body runs past the server's output") }
            offset += length
        }
    }
}
