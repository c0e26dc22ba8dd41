/// The kind of a frame: the byte after the length field.
public enum FrameType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case settings = 0x01
    case request = 0x02
    case message = 0x03
    case end = 0x04
    case cancel = 0x05
    case windowUpdate = 0x06
    case ping = 0x07
    case goAway = 0x08

    public var description: String {
        switch self {
        case .settings: "SETTINGS"
        case .request: "REQUEST"
        case .message: "MESSAGE"
        case .end: "END"
        case .cancel: "CANCEL"
        case .windowUpdate: "WINDOW_UPDATE"
        case .ping: "PING"
        case .goAway: "GOAWAY"
        }
    }
}

/// Frame flags. Bit 0 means END_STREAM on REQUEST and MESSAGE, ACK on SETTINGS and PING; bit 1 HAS_MESSAGE on
/// REQUEST, MESSAGE and END. Other bits are reserved: senders set them to zero, receivers ignore them.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The client sends no more messages on this call (REQUEST, MESSAGE).
    public static let endStream = FrameFlags(rawValue: 0x01)
    /// Acknowledges a SETTINGS or PING frame.
    public static let ack = FrameFlags(rawValue: 0x01)
    /// A REQUEST, MESSAGE or END frame carries a message in its payload (an empty message encodes to zero bytes,
    /// so the payload length alone cannot say). A MESSAGE without it only ends the client's stream.
    public static let hasMessage = FrameFlags(rawValue: 0x02)
}
