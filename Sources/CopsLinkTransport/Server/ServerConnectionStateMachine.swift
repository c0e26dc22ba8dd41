import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore

/// The rules of one server connection (PROTOCOL.md §2, §6, §12–§15): handshake order, call ids, the concurrency
/// limit, draining, ping strikes, unauthenticated calls, half-close and when reading stops.
///
/// A value type the handler owns and feeds with events; each event returns what to do, and `ServerConnectionHandler`
/// performs it (writes, timers, closing). The calls themselves, the byte budgets and the timers stay in the handler:
/// they are resources, not decisions. Nothing here allocates.
struct ServerConnectionStateMachine {
    enum Phase: Equatable {
        /// Waiting for the client's preface.
        case awaitingPreface
        /// The preface arrived and the server's SETTINGS is out; waiting for the client's first non-ACK SETTINGS.
        case awaitingSettings
        /// Handshake done: calls may be opened.
        case active
        /// GOAWAY sent or the channel closed: nothing more is read, written or started.
        case closed
    }

    /// The limits and policies the rules apply; fixed for a connection.
    struct Policy {
        var maxConcurrentCalls: Int
        var maxEndedCallsRunning: Int
        var pingMinimumInterval: TimeAmount
        var pingMaximumStrikes: Int
        /// UNAUTHENTICATED answers after which the connection gets GOAWAY; 0 means no limit.
        var maxUnauthenticatedCalls: Int

        init(_ configuration: ServerConfiguration) {
            maxConcurrentCalls = configuration.limits.maxConcurrentCalls
            maxEndedCallsRunning = configuration.limits.maxEndedCallsRunning
            pingMinimumInterval = TimeAmount(configuration.pingPolicy.minimumInterval)
            pingMaximumStrikes = configuration.pingPolicy.maximumStrikes
            maxUnauthenticatedCalls = configuration.maxUnauthenticatedCalls
        }
    }

    /// A reason to send GOAWAY and close: its code, the metric label and the text the client reads.
    struct Closure: Equatable {
        var code: GoAwayHeader.Code
        var reason: RejectionReason
        var message: String
    }

    let policy: Policy
    private(set) var phase = Phase.awaitingPreface
    /// The highest call id a REQUEST has used; the next must be greater (§6).
    private(set) var lastCallID: UInt64 = 0
    /// Calls with a running handler (opened and not yet ended).
    private(set) var openCalls = 0
    /// Calls that ended (answered, cancelled by the client, past their deadline) while their handler still ran, until
    /// it returns. At most `maxEndedCallsRunning` of them besides the open calls: a client that cancelled each call at
    /// once (or gave it a 1 ms deadline) otherwise started handlers without bound (3,000 cancelled writes on one
    /// connection queued behind the store's writer and delayed every client's writes by 24 s). Not in the open-call
    /// limit itself: a client may count a call's place free once it sent CANCEL (§10).
    private(set) var endedCallsRunning = 0
    /// Set once the connection drains (server GOAWAY, client GOAWAY or half-close): calls above it are refused, and
    /// the connection closes when the last open call ends.
    private(set) var drainingAfter: UInt64?
    /// Why the server sent GOAWAY, if it did: the words of its GOAWAY and of the calls it refuses after it.
    private(set) var drainCause: DrainCause?
    private var pingStrikes = 0
    private var lastPingReceived: NIODeadline?
    private var unauthenticatedCalls = 0
    /// Reading stops while the peer does not read what the server wrote (no frame is decoded either, so no call is
    /// dispatched) or while the server's inbound budget is spent and a partial frame is held. A `read` asked for
    /// meanwhile is held back until both are over.
    private(set) var pausedForOutbound = false
    private(set) var pausedForMemory = false
    private var readHeldBack = false

    init(policy: Policy) {
        self.policy = policy
    }

    var isClosed: Bool { phase == .closed }
    /// The idle clock runs only while an active connection has no call.
    var isIdle: Bool { phase == .active && openCalls == 0 }
    /// Frames the reader holds are decoded only while the peer reads its answers.
    var decodesFrames: Bool { phase != .closed && !pausedForOutbound }

    // MARK: Handshake

    /// The preface arrived: the server sends its SETTINGS.
    mutating func prefaceReceived() {
        assert(phase == .awaitingPreface)
        phase = .awaitingSettings
    }

    /// Whether a frame of `type` may be handled now; the violation otherwise.
    func admits(_ type: FrameType, callID: UInt64) -> Closure? {
        if phase == .awaitingSettings, type != .settings {
            return Self.violation(.expectedSettings, "expected SETTINGS after the preface, received \(type)")
        }
        if type == .end { return Self.violation(.endFromClient, "END frames are sent by servers only (call \(callID))") }
        return nil
    }

    enum SettingsAction: Equatable {
        /// ACK it; `startsConnection` on the first: stop the handshake timer, start keepalive and the idle clock.
        case acknowledge(startsConnection: Bool)
        case close(Closure)
    }

    /// A non-ACK SETTINGS arrived.
    mutating func settingsReceived(_ settings: SettingsHeader) -> SettingsAction {
        if let violation = PeerLimits.violation(in: settings) {
            return .close(Self.violation(.settingsBelowMinimum, violation))
        }
        guard phase == .awaitingSettings else { return .acknowledge(startsConnection: false) }
        phase = .active
        return .acknowledge(startsConnection: true)
    }

    enum HandshakeTimeoutAction: Equatable {
        case none
        /// No complete preface: a line of text (the peer may not speak the protocol), then close.
        case sendTextAndClose(String)
        case close(Closure)
    }

    /// The handshake timer fired.
    func handshakeTimedOut(after timeout: Duration) -> HandshakeTimeoutAction {
        switch phase {
        case .awaitingPreface: .sendTextAndClose("copslink: no preface within \(timeout.secondsText); closing\n")
        case .awaitingSettings:
            .close(
                Closure(code: .protocolError, reason: .handshakeTimeout, message: "no SETTINGS within \(timeout.secondsText) of connecting")
            )
        case .active, .closed: .none
        }
    }

    // MARK: Calls

    enum RequestAdmission: Equatable {
        /// May start a call (the handler's own checks follow: budget, metadata, route); `callOpened()` once it does.
        case admit
        /// Answer END with this status at once; `reason` names the limit.
        case reject(RejectionReason, RPCError)
    }

    /// A REQUEST for call `id` arrived: its id must be greater than every earlier one (§6), checked before its header
    /// is decoded. Returns the violation, if it is one.
    mutating func requestReceived(callID id: UInt64) -> Closure? {
        guard id > lastCallID else {
            return Self.violation(.callIDNotIncreasing, "call id \(id) is not greater than the previous call id \(lastCallID)")
        }
        lastCallID = id
        return nil
    }

    /// Whether the REQUEST whose id was just accepted may start a call. Checks in the order of PROTOCOL.md §7.2:
    /// draining, then the concurrency limit.
    func admitCall(_ id: UInt64) -> RequestAdmission {
        if let drainingAfter, id > drainingAfter {
            // No cause of the server's own: the client sent GOAWAY itself, and then a REQUEST anyway.
            let message = drainCause?.refusal ?? "the client sent GOAWAY on this connection; start the call on a new connection"
            return .reject(.draining, RPCError(code: .unavailable, message: message))
        }
        guard openCalls < policy.maxConcurrentCalls else {
            return .reject(
                .tooManyCalls,
                RPCError(
                    code: .resourceExhausted,
                    message: "too many concurrent calls: this server allows \(policy.maxConcurrentCalls) per connection"))
        }
        guard endedCallsRunning < maxEndedCallsRunning else {
            return .reject(.tooManyCalls, ConnectionLimits.endedCallsRefusal(running: endedCallsRunning))
        }
        return .admit
    }

    /// A call's handler started.
    mutating func callOpened() {
        openCalls += 1
    }

    enum CallEndAction: Equatable {
        case none
        /// The connection has no call now: the idle clock starts.
        case startIdleClock
        /// Draining and the last call ended.
        case close
        /// Drain the connection (`drainStarted`): GOAWAY now, its running calls answered, then closed.
        case drain(DrainCause)
    }

    /// An open call ended: answered (`code`) or cancelled by the client (`code` nil); `handlerRunning` when its
    /// handler has not returned yet (`handlerReturned` follows). Nothing after the connection closed: every call
    /// ended with it (an END written after that, whose flush found the channel closed, once tripped the count).
    mutating func callEnded(code: StatusCode?, handlerRunning: Bool = false) -> CallEndAction {
        guard phase != .closed else { return .none }
        assert(openCalls > 0)
        openCalls -= 1
        if handlerRunning { endedCallsRunning += 1 }
        if code == .unauthenticated, policy.maxUnauthenticatedCalls > 0 {
            unauthenticatedCalls = unauthenticatedCalls.addingReportingOverflow(1).partialValue
            // Drained, not cut: the calls the client sent before this answer reached it may carry a valid key (a
            // connection shared by several), and one of them may already have written; they are answered.
            if unauthenticatedCalls >= policy.maxUnauthenticatedCalls, drainingAfter == nil {
                return .drain(.unauthenticatedCalls(unauthenticatedCalls))
            }
        }
        return afterCallsChanged()
    }

    /// Handlers of ended calls that may still run (`endedCallsRunning`; `ConnectionLimits.maxEndedCallsRunning`).
    var maxEndedCallsRunning: Int { policy.maxEndedCallsRunning }

    /// The handler of a call that already ended (`callEnded(code:handlerRunning: true)`) returned.
    mutating func handlerReturned() {
        guard phase != .closed, endedCallsRunning > 0 else { return }
        endedCallsRunning -= 1
    }

    /// A REQUEST answered without starting a call (`.reject`, or the handler's own refusals).
    func requestRefused() -> CallEndAction {
        afterCallsChanged()
    }

    private func afterCallsChanged() -> CallEndAction {
        guard openCalls == 0, phase != .closed else { return .none }
        return drainingAfter == nil ? .startIdleClock : .close
    }

    // MARK: Pings

    enum PingAction: Equatable {
        case acknowledge
        case close(Closure)
    }

    /// A non-ACK PING arrived at `now`: too many too soon are strikes (§13).
    mutating func pingReceived(at now: NIODeadline) -> PingAction {
        if let last = lastPingReceived, now - last < policy.pingMinimumInterval {
            pingStrikes += 1
            if pingStrikes > policy.pingMaximumStrikes {
                let interval = Duration.nanoseconds(policy.pingMinimumInterval.nanoseconds)
                return .close(
                    Closure(
                        code: .enhanceYourCalm, reason: .tooManyPings, message: "too many pings: at most one per \(interval.secondsText)"))
            }
        } else {
            pingStrikes = 0
        }
        lastPingReceived = now
        return .acknowledge
    }

    // MARK: Draining

    enum DrainAction: Equatable {
        case none
        /// Send GOAWAY `NO_ERROR` naming `lastCallID` and start the grace timer; then `close` if no call is open.
        case sendGoAway(lastCallID: UInt64, close: Bool)
        /// The client will start nothing more and nothing is running.
        case close
        /// The client half-closed with calls running: probe with a PING (a client that closed its socket entirely
        /// answers it with a reset).
        case probe
    }

    /// Why the server drains a connection.
    enum DrainCause: Equatable {
        /// The server shuts down gracefully.
        case shutdown
        /// The connection reached its maximum age (`ServerConfiguration.maxConnectionAge`).
        case maxConnectionAge(Duration)
        /// This many of the connection's calls were answered UNAUTHENTICATED (`maxUnauthenticatedCalls`).
        case unauthenticatedCalls(Int)

        /// The GOAWAY's code.
        var goAwayCode: GoAwayHeader.Code {
            switch self {
            case .shutdown, .maxConnectionAge: .noError
            case .unauthenticatedCalls: .enhanceYourCalm
            }
        }

        /// The GOAWAY's message.
        var goAwayMessage: String {
            switch self {
            case .shutdown: "the server is shutting down"
            case .maxConnectionAge(let age): "the connection reached its maximum age (\(age.secondsText)); reconnect"
            case .unauthenticatedCalls(let count): "too many unauthenticated calls: \(count)"
            }
        }

        /// The UNAVAILABLE message of a call started after the GOAWAY.
        var refusal: String {
            switch self {
            case .shutdown: "the server is shutting down; retry the call on a new connection"
            case .maxConnectionAge: "the connection reached its maximum age; retry the call on a new connection"
            case .unauthenticatedCalls: "the connection sent too many unauthenticated calls; retry the call on a new connection"
            }
        }

        /// The UNAVAILABLE message of a call still running at the grace deadline.
        var cutOff: String {
            switch self {
            case .shutdown: "the server shut down before the call finished"
            case .maxConnectionAge: "the connection reached its maximum age and its grace period ended before the call finished"
            case .unauthenticatedCalls:
                "the connection sent too many unauthenticated calls and its grace period ended before the call finished"
            }
        }
    }

    /// The server drains the connection (§14): it shuts down gracefully, or the connection reached its maximum age.
    /// A second cause changes nothing: the first GOAWAY stands.
    mutating func drainStarted(_ cause: DrainCause) -> DrainAction {
        guard drainingAfter == nil, phase != .closed else { return .none }
        drainingAfter = lastCallID
        drainCause = cause
        return .sendGoAway(lastCallID: lastCallID, close: openCalls == 0)
    }

    /// The client sent GOAWAY: it starts no more calls; the connection closes once its calls are answered.
    mutating func peerGoAwayReceived() -> DrainAction {
        if drainingAfter == nil { drainingAfter = lastCallID }
        return openCalls == 0 && phase != .closed ? .close : .none
    }

    /// The client half-closed its TCP stream (FIN): its calls are answered, then the connection closes (§14).
    mutating func inputClosed() -> DrainAction {
        guard phase == .active else { return phase == .closed ? .none : .close }
        if drainingAfter == nil { drainingAfter = lastCallID }
        return openCalls == 0 ? .close : .probe
    }

    // MARK: Reading

    /// The channel asks to read: forward it unless reading is paused (then it is asked again on resuming).
    mutating func readRequested() -> Bool {
        guard !pausedForOutbound, !pausedForMemory else {
            readHeldBack = true
            return false
        }
        return true
    }

    enum WritabilityAction: Equatable {
        case none
        /// Above the high-water mark: stop decoding, start the unwritable clock.
        case pause
        /// Below the low-water mark again: stop the clock, decode what is held, and read if a read was held back.
        case resume(read: Bool)
    }

    mutating func writabilityChanged(writable: Bool) -> WritabilityAction {
        guard writable == pausedForOutbound, phase != .closed else { return .none }
        pausedForOutbound = !writable
        return writable ? .resume(read: takeHeldBackRead()) : .pause
    }

    /// The server's inbound budget is spent while this connection holds a partial frame: stop reading. Returns
    /// whether it was reading until now (then log once and start the retry timer).
    mutating func memoryExhausted() -> Bool {
        guard !pausedForMemory else { return false }
        pausedForMemory = true
        return true
    }

    /// The budget has room again; returns whether to ask for the read held back.
    mutating func memoryAvailable() -> Bool {
        pausedForMemory = false
        return takeHeldBackRead()
    }

    private mutating func takeHeldBackRead() -> Bool {
        guard !pausedForOutbound, !pausedForMemory, readHeldBack, phase != .closed else { return false }
        readHeldBack = false
        return true
    }

    // MARK: Closing

    /// The connection closes (GOAWAY sent, an error, or the channel went inactive). Returns false if it already was.
    mutating func close() -> Bool {
        guard phase != .closed else { return false }
        phase = .closed
        return true
    }

    /// The channel went inactive: every call ended with it.
    mutating func channelClosed() {
        phase = .closed
        openCalls = 0
        endedCallsRunning = 0
    }

    static func violation(_ reason: RejectionReason, _ message: String) -> Closure {
        Closure(code: .protocolError, reason: reason, message: message)
    }
}
