import CopsLinkCore
// The expanded mode of fuzz-connection: a few bytes of input become megabytes of client stream, so that the fuzzer
// reaches the resource limits (per-connection and server-wide inbound budgets, unfinished requests, partial frames,
// decoding of large messages, many calls) that a 16 KiB input of raw bytes never could.
//
// After the handshake (preface and SETTINGS), the program is read 4 bytes at a time, `[op, a, b, c]`; `n = a<<8 | b`:
//
//     op % 8 = 0   REQUEST unaryCall, a payload of n × 16 bytes (capped at the frame size); END_STREAM if c & 1
//              1   REQUEST streamingInputCall, likewise
//              2   MESSAGE of n × 16 payload bytes on the call (c % 8) calls back from the newest; END_STREAM if c & 8
//              3   END_STREAM alone on the call (c % 8) back
//              4   CANCEL of the call (c % 8) back
//              5   the previous operation again, a + 1 times (new calls each time for 0, 1 and 6)
//              6   REQUEST unaryCall whose message is n × 16 bytes of 2-byte unknown fields; END_STREAM if c & 1
//              7   the first n × 16 bytes of a REQUEST frame twice that long, and nothing after it (a partial frame)
//
// The stream stops growing at 16 MiB; messages of unknown fields are at most 256 KiB.
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import CopsLinkWire
import NIOCore

enum ExpandedStream {
    static let maximumSize = 16 << 20
    static let unknownFieldsMaximum = 256 << 10

    static func expand(program: ArraySlice<UInt8>, limits: ConnectionLimits) -> [UInt8] {
        var bytes = ByteBuffer()
        Preface.write(to: &bytes)
        bytes.writeFrame(.settings, header: SettingsHeader(), payload: NoMessage.payload)
        var ids: [UInt64] = []
        var previous: [UInt8]?
        let maximumPayload = limits.maxFrameSize - 1024
        var index = program.startIndex
        while index + 4 <= program.endIndex, bytes.readableBytes < maximumSize {
            var operation = Array(program[index..<index + 4])
            index += 4
            var repeats = 1
            if operation[0] % 8 == 5 {
                guard let previous else { continue }
                repeats = Int(operation[1]) + 1
                operation = previous
            }
            previous = operation
            let size = min((Int(operation[1]) << 8 | Int(operation[2])) * 16, maximumPayload)
            let flag = operation[3]
            for _ in 0..<repeats where bytes.readableBytes < maximumSize {
                func target() -> UInt64 { ids.isEmpty ? 1 : ids[max(0, ids.count - 1 - Int(flag % 8))] }
                switch operation[0] % 8 {
                case 0, 1:
                    let id = (ids.last ?? 0) + 1
                    ids.append(id)
                    let method = operation[0] % 8 == 0 ? TestService.Method.unaryCall : TestService.Method.streamingInputCall
                    bytes.writeFrame(
                        .request, flags: flag & 1 == 1 ? .endStream : [], callID: id,
                        header: RequestHeader(method: method.path), payload: SimpleRequest(payload: Array(repeating: 0x5a, count: size)))
                case 2:
                    bytes.writeFrame(
                        .message, flags: flag & 8 != 0 ? .endStream : [], callID: target(), header: NoMessage.header,
                        payload: StreamingInputCallRequest(payload: Array(repeating: 0xa5, count: size)))
                case 3:
                    bytes.writeFrame(.message, flags: .endStream, callID: target(), header: NoMessage.header, payload: NoMessage.payload)
                case 4:
                    bytes.writeFrame(.cancel, callID: target(), header: CancelHeader(reason: "fuzz"), payload: NoMessage.payload)
                case 6:
                    let id = (ids.last ?? 0) + 1
                    ids.append(id)
                    // Field 15, varint 0: a field SimpleRequest does not have, two bytes each. At most 256 KiB: a
                    // megabyte of them takes seconds to decode under ASan (with its bound, the decoder stops early).
                    var payload = ByteBuffer(repeating: 0, count: min(size, unknownFieldsMaximum) / 2 * 2)
                    payload.withUnsafeMutableReadableBytes { bytes in
                        for index in stride(from: 0, to: bytes.count, by: 2) { bytes[index] = 15 << 3 }
                    }
                    let frameStart = bytes.writerIndex
                    bytes.writeFrame(
                        .request, flags: flag & 1 == 1 ? .endStream : [], callID: id,
                        header: RequestHeader(method: TestService.Method.unaryCall.path), payload: NoMessage.payload)
                    appendPayload(payload, toFrameAt: frameStart, in: &bytes)
                default:
                    let id = (ids.last ?? 0) + 1
                    ids.append(id)
                    var frame = ByteBuffer()
                    frame.writeFrame(
                        .request, flags: .endStream, callID: id, header: RequestHeader(method: TestService.Method.unaryCall.path),
                        payload: SimpleRequest(payload: Array(repeating: 0x33, count: min(2 * size, maximumPayload))))
                    bytes.writeBytes(frame.readableBytesView.prefix(max(1, size)))
                    return Array(bytes.readableBytesView)  // nothing can follow a partial frame
                }
            }
        }
        return Array(bytes.readableBytesView)
    }

    /// Appends `payload` as the raw message of the frame at `frameStart`, the last one written (a frame without a
    /// message), fixing its length and flags.
    private static func appendPayload(_ payload: ByteBuffer, toFrameAt frameStart: Int, in bytes: inout ByteBuffer) {
        var payload = payload
        let length = bytes.getInteger(at: frameStart, as: UInt32.self)!
        bytes.setInteger(length + UInt32(payload.readableBytes), at: frameStart)
        let flags = bytes.getInteger(at: frameStart + 5, as: UInt8.self)!
        bytes.setInteger(flags | FrameFlags.hasMessage.rawValue, at: frameStart + 5)
        bytes.writeBuffer(&payload)
    }
}
