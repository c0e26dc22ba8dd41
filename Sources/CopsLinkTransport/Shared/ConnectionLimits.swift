public import CopsLinkCore
import CopsLinkWire

/// Limits one side of a connection enforces and announces in its SETTINGS frame.
public struct ConnectionLimits: Sendable, Hashable {
    /// Largest frame this side accepts (length field value). Default 4 MiB.
    public var maxFrameSize: Int = 4 << 20
    /// Largest frame header this side accepts. Default 16 KiB; also bounds metadata.
    public var maxHeaderSize: Int = 16 << 10
    /// Calls the peer may have open at once on one connection. Default 100; the server answers the next with
    /// RESOURCE_EXHAUSTED at once.
    public var maxConcurrentCalls: Int = 100
    /// Handlers of a connection's ended calls (answered, cancelled, reset or past their deadline) that may still run
    /// besides its open calls: four times `maxConcurrentCalls`, and at least 64, so that a client that cancels its
    /// calls and at once starts new ones (their places are free) is not refused while the old handlers wind down, and
    /// one that cancels every call at once cannot start handlers without bound. The server refuses new calls of the
    /// connection past it.
    public var maxEndedCallsRunning: Int { max(64, 4 * maxConcurrentCalls) }

    /// The refusal of a connection's new call while `running` handlers of its ended calls still run: the same words on
    /// every protocol (PROTOCOL.md §7, §19.1).
    public static func endedCallsRefusal(running: Int) -> RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "\(running) calls of this connection that were cancelled or passed their deadline are still finishing; retry shortly")
    }
    /// Payload bytes the peer may send on one call before it needs more credit. Default 256 KiB.
    public var initialWindowSize: Int = 256 << 10

    public init() {}

    /// The smallest `maxFrameSize` a side may announce (HTTP/2's minimum too): below it a status message and a
    /// useful message no longer fit in one frame. A SETTINGS stating less is a protocol error (PROTOCOL.md §2.2).
    public static let minimumMaxFrameSize = 16_384
    /// The smallest `maxHeaderSize` a side may announce: the server's longest own END header (a status message of
    /// its own with a quoted excerpt of client text) fits in it.
    public static let minimumMaxHeaderSize = 1_024

    var frameLimits: FrameLimits { FrameLimits(maxFrameSize: maxFrameSize, maxHeaderSize: maxHeaderSize) }
}

/// Protocol-level pings that detect a dead peer.
public struct KeepaliveConfiguration: Sendable, Hashable {
    /// Time between pings; nil disables them.
    public var interval: Duration?
    /// A ping not answered within this time declares the peer dead.
    public var timeout: Duration

    public init(interval: Duration?, timeout: Duration = .seconds(20)) {
        self.interval = interval
        self.timeout = timeout
    }
}

/// How the server treats pings it receives.
public struct PingPolicy: Sendable, Hashable {
    /// A ping that arrives sooner than this after the previous one is a strike. Default 1 s.
    public var minimumInterval: Duration = .seconds(1)
    /// Consecutive strikes tolerated; one more gets GOAWAY ENHANCE_YOUR_CALM. A ping on time clears them. Default 5.
    public var maximumStrikes: Int = 5

    public init() {}
}
