import CopsLinkCore
// The seed corpus of fuzz-connection: complete, valid client conversations (every TestService method, Health,
// cancellation, flow control, pings, GOAWAY) and a few classic mistakes, each as a corpus file in the input format
// of FuzzConnection.swift. Written by `COPSLINK_FUZZ_MAKE_CORPUS=Fuzz/Corpus/fuzz-connection …/fuzz-connection`
// (scripts/fuzz --make-corpus).
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import Foundation
import FuzzSupport
import NIOCore

private struct Conversation {
    var bytes = ByteBuffer()

    init(preface: Bool = true, settings: Bool = true) {
        if preface { Preface.write(to: &bytes) }
        if settings {
            bytes.writeFrame(
                .settings,
                header: SettingsHeader(maxFrameSize: 1 << 20, maxConcurrentCalls: 10, initialWindowSize: 1 << 16, maxHeaderSize: 8 << 10),
                payload: NoMessage.payload)
            bytes.writeFrame(.settings, flags: .ack, header: NoMessage.header, payload: NoMessage.payload)
        }
    }

    mutating func request(
        _ id: UInt64, _ method: MethodDescriptor, _ message: (any RPCMessage)?, end: Bool = true,
        timeoutMicros: UInt64 = 0, metadata: Metadata = [:]
    ) {
        bytes.writeFrame(
            .request, flags: end ? .endStream : [], callID: id,
            header: RequestHeader(method: method.path, timeoutMicros: timeoutMicros, metadata: metadata), payload: message)
    }

    mutating func message(_ id: UInt64, _ message: (any RPCMessage)?, end: Bool = false) {
        bytes.writeFrame(.message, flags: end ? .endStream : [], callID: id, header: NoMessage.header, payload: message)
    }

    mutating func frame(_ type: FrameType, flags: FrameFlags = [], callID: UInt64 = 0, header: (some ProtobufCCodable)?) {
        bytes.writeFrame(type, flags: flags, callID: callID, header: header, payload: NoMessage.payload)
    }

    mutating func ping(_ opaque: UInt64, ack: Bool = false) {
        var payload = ByteBuffer()
        payload.writeInteger(opaque)
        bytes.writeFrame(.ping, flags: ack ? .ack : [], rawPayload: payload)
    }

    /// The corpus file: the control bytes, then the stream without the preface if the control byte prepends it.
    func file(control: UInt8 = 0, splits: (UInt8, UInt8) = (0, 0)) -> [UInt8] {
        var stream = Array(bytes.readableBytesView)
        if control & 1 == 1, stream.starts(with: Preface.magic) { stream.removeFirst(Preface.size) }
        return [control, splits.0, splits.1] + stream
    }
}

func writeCorpus(to directory: String) {
    var seeds: [(String, [UInt8])] = []
    let test = TestService.Method.self

    var handshake = Conversation()
    handshake.ping(1)
    handshake.ping(2, ack: true)
    seeds.append(("handshake-ping", handshake.file()))
    seeds.append(("handshake-ping-prefaced", handshake.file(control: 1)))

    var health = Conversation()
    health.request(1, Health.Method.check, HealthCheckRequest())
    health.request(3, Health.Method.check, HealthCheckRequest(service: TestService.serviceName))
    health.request(5, Health.Method.check, HealthCheckRequest(service: "nope"))
    seeds.append(("health", health.file(control: 1 | 2, splits: (40, 90))))

    var unary = Conversation()
    unary.request(1, test.emptyCall, EmptyMessage(), metadata: ["x-trace": .text("abc"), "copslink-request-id": .text("r-1")])
    unary.request(2, test.unaryCall, SimpleRequest(responseSize: 16, payload: [1, 2, 3, 4]), timeoutMicros: 2_000_000)
    unary.request(3, test.unaryCall, SimpleRequest(responseStatus: EchoStatus(code: 9, message: "asked to fail")))
    unary.request(4, test.unaryCall, SimpleRequest(responseSize: 1, sleepMillis: 1))
    seeds.append(("unary", unary.file()))
    seeds.append(("unary-chunked", unary.file(control: 1 | 6 | 8, splits: (17, 200))))

    var serverStreaming = Conversation()
    serverStreaming.request(
        1, test.streamingOutputCall,
        StreamingOutputCallRequest(
            responseParameters: [ResponseParameters(size: 1), ResponseParameters(size: 100), ResponseParameters(size: 7)]))
    serverStreaming.frame(.windowUpdate, callID: 1, header: WindowUpdateHeader(increment: 1000))
    seeds.append(("server-streaming", serverStreaming.file(control: 1)))

    var clientStreaming = Conversation()
    clientStreaming.request(7, test.streamingInputCall, StreamingInputCallRequest(payload: [1]), end: false)
    clientStreaming.message(7, StreamingInputCallRequest(payload: [2, 3]))
    clientStreaming.message(7, StreamingInputCallRequest(payload: []))
    clientStreaming.message(7, nil, end: true)
    seeds.append(("client-streaming", clientStreaming.file(control: 4, splits: (128, 0))))

    var bidi = Conversation()
    bidi.request(1, test.fullDuplexCall, nil, end: false)
    bidi.message(1, StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 5)]))
    bidi.message(1, StreamingOutputCallRequest(responseParameters: [ResponseParameters(size: 2, intervalMillis: 1)]))
    bidi.message(1, StreamingOutputCallRequest(responseStatus: EchoStatus(code: 3, message: "bad")), end: true)
    seeds.append(("bidi", bidi.file(control: 1 | 8 | 16)))

    var cancel = Conversation()
    cancel.request(1, test.streamingInputCall, nil, end: false)
    cancel.frame(.cancel, callID: 1, header: CancelHeader(reason: "user"))
    cancel.request(2, test.unaryCall, SimpleRequest(sleepMillis: 10_000), timeoutMicros: 1_000)
    cancel.frame(.goAway, header: GoAwayHeader(lastCallID: 0, code: .noError, message: "bye"))
    seeds.append(("cancel-deadline-goaway", cancel.file(control: 1 | 16)))

    var unknown = Conversation()
    unknown.request(1, MethodDescriptor(service: "copslink.rpc.v1.Nope", method: "Call"), EmptyMessage())
    unknown.request(2, MethodDescriptor(service: TestService.serviceName, method: "Nope"), EmptyMessage())
    seeds.append(("unknown-methods", unknown.file(control: 1)))

    var idle = Conversation()
    idle.ping(9)
    seeds.append(("idle-timers", idle.file(control: 1 | 48)))

    var noSettings = Conversation(settings: false)
    noSettings.request(1, test.emptyCall, EmptyMessage())
    seeds.append(("request-before-settings", noSettings.file(control: 1)))

    // Expanded mode (ExpandedStream.swift): programs that reach the inbound budgets.
    let expanded: UInt8 = 64
    seeds.append(("expanded-held-unary-calls", [expanded, 0, 0] + [0, 0x10, 0, 0] + [5, 99, 0, 0]))
    seeds.append(("expanded-client-stream", [expanded, 0, 0] + [1, 0, 0x40, 0] + [2, 0x08, 0, 0] + [5, 40, 0, 0] + [3, 0, 0, 0]))
    seeds.append(("expanded-unknown-fields", [expanded, 0, 0] + [6, 0xff, 0xff, 1] + [5, 3, 0, 0]))
    seeds.append(("expanded-partial-frame", [expanded, 0, 0] + [0, 0, 0x10, 1] + [4, 0, 0, 0] + [7, 0x80, 0, 0]))
    seeds.append(("expanded-held-then-timers", [expanded | 40, 0, 0] + [0, 0x01, 0, 0] + [5, 9, 0, 0] + [1, 0, 1, 0]))

    seeds.append(("http", [0, 0, 0] + Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
    // HTTP/JSON (PROTOCOL.md §18): unary, pipelined, chunked, client and server streaming, a deadline, bad JSON.
    func post(_ path: String, _ body: String, headers: String = "") -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }
    let http: [(String, String)] = [
        ("http-health", post("/copslink.rpc.v1.Health/Check", #"{"service":""}"#)),
        (
            "http-pipelined",
            post("/copslink.rpc.v1.TestService/UnaryCall", #"{"responseSize":3,"payload":{"body":"AQI="}}"#, headers: "x-a: 1\r\n")
                + post("/copslink.rpc.v1.TestService/EmptyCall", "{}")
        ),
        (
            "http-chunked",
            "POST /copslink.rpc.v1.TestService/UnaryCall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"res\r\n11\r\nponseSize\":2}   \r\n0\r\n\r\n"
        ),
        ("http-client-stream", post("/copslink.rpc.v1.TestService/StreamingInputCall", "{\"payload\":{\"body\":\"AQ==\"}}\n\n{}\n")),
        (
            "http-server-stream",
            post(
                "/copslink.rpc.v1.TestService/StreamingOutputCall",
                #"{"responseParameters":[{"size":1},{"size":2,"intervalMillis":5}],"responseStatus":{"code":9}}"#)
        ),
        ("http-deadline", post("/copslink.rpc.v1.TestService/UnaryCall", #"{"sleepMillis":2000}"#, headers: "grpc-timeout: 100m\r\n")),
        ("http-bad-json", post("/copslink.rpc.v1.Health/Check", #"{"service":"\ud800", "x": [[[1e999]]]}"#)),
        ("http-expect", post("/copslink.rpc.v1.Health/Check", "{}", headers: "Expect: 100-continue\r\nx-k-bin: AAE\r\n"))
    ]
    for (name, text) in http { seeds.append((name, [0, 0, 0] + Array(text.utf8))) }
    seeds.append(("bad-version", [0, 0, 0] + Preface.magic + [0, 0, 0, 2]))
    seeds.append(("preface-only", [1, 0, 0]))

    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (name, bytes) in seeds {
        let path = "\(directory)/\(name)"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fail("cannot write \(path)") }
    }
    print("fuzz-connection: wrote \(seeds.count) seeds to \(directory)")
}
