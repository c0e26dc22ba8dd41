import CopsLinkWire
import NIOCore

/// Sends a PING every interval and declares the peer dead when one goes unanswered. Event-loop bound.
struct Keepalive {
    let configuration: KeepaliveConfiguration
    private var intervalTask: RepeatedTask?
    private var timeoutTask: Scheduled<Void>?
    private var outstanding: UInt64?
    private var nextOpaque: UInt64 = 1

    init(configuration: KeepaliveConfiguration) { self.configuration = configuration }

    /// Starts pinging; `send` writes a PING with the given opaque value, `onTimeout` handles a dead peer.
    mutating func start(
        on eventLoop: any EventLoop,
        tick: @escaping @Sendable (RepeatedTask) -> Void
    ) {
        guard let interval = configuration.interval else { return }
        let amount = TimeAmount(interval)
        intervalTask = eventLoop.scheduleRepeatedTask(initialDelay: amount, delay: amount) { task in tick(task) }
    }

    /// Called on each tick: the opaque value to ping with, or nil while a ping is still unanswered.
    mutating func nextPing(on eventLoop: any EventLoop, onTimeout: @escaping @Sendable () -> Void) -> UInt64? {
        guard outstanding == nil else { return nil }
        let opaque = nextOpaque
        nextOpaque &+= 1
        outstanding = opaque
        timeoutTask = eventLoop.scheduleTask(in: TimeAmount(configuration.timeout)) { onTimeout() }
        return opaque
    }

    /// A PING ACK arrived.
    mutating func acknowledged(_ opaque: UInt64) {
        guard outstanding == opaque else { return }
        outstanding = nil
        timeoutTask?.cancel()
        timeoutTask = nil
    }

    mutating func stop() {
        intervalTask?.cancel()
        intervalTask = nil
        timeoutTask?.cancel()
        timeoutTask = nil
    }
}

extension TimeAmount {
    /// Converts, saturating at about 292 years instead of trapping (deadlines come from peers).
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else {
            self = .nanoseconds(seconds < 0 ? .min : .max)
            return
        }
        self = .nanoseconds(whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
    }
}

extension ByteBuffer {
    /// A PING frame's 8-byte opaque payload.
    static func pingPayload(_ opaque: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(opaque)
        return buffer
    }
}
