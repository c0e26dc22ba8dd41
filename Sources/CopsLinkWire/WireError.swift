/// A peer broke the wire format. Each case becomes a GOAWAY (or, before the preface, a plain-text line) and a close.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The first bytes were not the preface.
    case badPreface(received: [UInt8])
    /// The preface named a version this side does not speak.
    case unsupportedVersion(UInt32)
    /// The length field exceeds the maximum frame size; rejected before buffering.
    case frameTooLarge(length: Int, limit: Int)
    /// The length field is smaller than the fixed fields.
    case frameTooShort(length: Int)
    /// The header length points past the end of the frame.
    case headerLengthPastFrame(headerLength: Int, frameLength: Int)
    /// The header exceeds the maximum header size.
    case headerTooLarge(size: Int, limit: Int)
    /// The type byte names no known frame type.
    case unknownFrameType(UInt8)

    public var description: String {
        switch self {
        case .badPreface(let received):
            let shown = String(decoding: received.prefix(16).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
            return
                "expected the CopsLink preface 'COPSLINK' followed by a u32 protocol version (supported: \(Preface.supportedVersions.map(String.init).joined(separator: ", "))); received '\(shown)'"
        case .unsupportedVersion(let version):
            return
                "protocol version \(version) is not supported; this server speaks version(s) \(Preface.supportedVersions.map(String.init).joined(separator: ", "))"
        case .frameTooLarge(let length, let limit):
            return "frame of \(length) bytes exceeds the maximum frame size of \(limit) bytes"
        case .frameTooShort(let length):
            return "frame length \(length) is shorter than the \(Frame.fixedFieldsSize) bytes of fixed fields"
        case .headerLengthPastFrame(let headerLength, let frameLength):
            return "header length \(headerLength) runs past the end of a \(frameLength)-byte frame"
        case .headerTooLarge(let size, let limit):
            return "frame header of \(size) bytes exceeds the maximum header size of \(limit) bytes"
        case .unknownFrameType(let type):
            return "unknown frame type 0x\(String(type, radix: 16))"
        }
    }

    /// Whether the peer gets a plain-text line rather than a GOAWAY (it has not spoken the protocol yet).
    public var isPrefaceError: Bool {
        switch self {
        case .badPreface, .unsupportedVersion: true
        default: false
        }
    }
}
