import CopsLinkCore
import CopsLinkTransport
import NIOCore

/// The rules in time of one gRPC connection (PROTOCOL.md §19.3), as `ServerConnectionStateMachine` has the native
/// ones: a value the connection handler feeds with events; each returns what to do, and `GRPCConnectionHandler` does
/// it (GOAWAY, PINGs, timers, closing). The timers themselves stay in the handler: they are resources, not decisions.
struct GRPCConnectionStateMachine {
    enum Phase: Equatable {
        case active
        /// GOAWAY sent (or received): no new streams; the connection closes when the last one ends.
        case draining
        case closed
    }

    /// Why the server ends a connection: its GOAWAY's debug data, and the rejection counted for it.
    enum Cause: Equatable {
        case shutdown
        case maxConnectionAge
        case idleTimeout
        case keepaliveTimeout
        case unauthenticatedCalls
        case tooManyPings
        /// No SETTINGS from the client within the handshake timeout (the native protocol's §2.3).
        case handshakeTimeout(Duration)
        /// The connection stayed unwritable (its client read none of the answers) for the unwritable timeout.
        case slowReader(Duration)
        /// The connection came while the server's inbound memory budget (of this many bytes) was spent.
        case overloaded(budget: Int)

        /// The GOAWAY's debug data (gRPC clients log it). For too many pings it is gRPC's own `too_many_pings`, on
        /// which gRPC's clients lengthen their keepalive interval.
        var goAwayMessage: String {
            switch self {
            case .shutdown: "the server is shutting down"
            case .maxConnectionAge: "the connection reached its maximum age; reconnect"
            case .idleTimeout: "the connection was idle"
            case .keepaliveTimeout: "no PING ACK within the keepalive timeout"
            case .unauthenticatedCalls: "too many unauthenticated calls"
            case .tooManyPings: "too_many_pings"
            case .handshakeTimeout(let timeout): "no HTTP/2 SETTINGS within \(timeout.secondsText)"
            case .slowReader(let timeout): "the client left the server's answers unread for \(timeout.secondsText)"
            case .overloaded(let budget):
                "the server is over its inbound memory budget of \(budget) bytes; retry later or on another server"
            }
        }

        /// The close counted in `copslink_server_frames_rejected_total`, as the native protocol counts it; a drain
        /// the server chose is not a rejection.
        var rejection: RejectionReason? {
            switch self {
            case .shutdown, .maxConnectionAge: nil
            case .idleTimeout: .idleTimeout
            case .keepaliveTimeout: .keepaliveTimeout
            case .unauthenticatedCalls: .unauthenticatedCalls
            case .tooManyPings: .tooManyPings
            case .handshakeTimeout: .handshakeTimeout
            case .slowReader: .slowReader
            case .overloaded: .overloaded
            }
        }

        /// The UNAVAILABLE message of a call still running when the drain's grace ends (the native one, §14).
        var cutOff: String {
            switch self {
            case .maxConnectionAge: "the connection reached its maximum age and its grace period ended before the call finished"
            case .unauthenticatedCalls:
                "the connection closed after its limit of unauthenticated calls before the call finished; retry on a new connection"
            default: "the server shut down before the call finished"
            }
        }
    }

    enum Action: Equatable {
        case none
        /// No stream is open: start the idle clock.
        case startIdleClock
        /// The first stream opened: stop the idle clock.
        case stopIdleClock
        /// The socket stopped taking the server's bytes (past the outbound high-water mark): start the unwritable
        /// clock.
        case startUnwritableClock
        /// It takes them again (below the low-water mark): stop the clock.
        case stopUnwritableClock
        /// Send GOAWAY (its error code and debug data by `Cause`) naming `lastStreamID` (nil: the highest possible,
        /// 2^31 − 1); close at once (once it is written) when `close`, else when the last stream ends, or at
        /// `graceDeadline` if there is one.
        case goAway(Cause, lastStreamID: Int? = nil, close: Bool, graceDeadline: NIODeadline?)
        /// A graceful drain, as gRPC's servers do it: GOAWAY naming the highest possible stream (2^31 − 1) and a PING
        /// with `opaque`, so that streams the client opened before it saw the GOAWAY are still served; start the
        /// PING's timeout, and the grace timer if there is a deadline.
        case goAwayAndPing(Cause, opaque: UInt64, graceDeadline: NIODeadline?)
        /// The drain's PING was answered (or timed out): the final GOAWAY names the last stream the client opened, so
        /// it knows any later one was not processed and may retry it; close at once when `close` (no stream open).
        case finalGoAway(Cause, lastStreamID: Int, close: Bool)
        /// Close now (once what is written has gone out).
        case close
        /// GOAWAY with last stream id 0 (no stream was or will be served), counted as the cause's rejection; close.
        case refuse(Cause)
        /// The grace ended: answer each open stream's call UNAVAILABLE with `cause`'s cut-off message, then close.
        case cutOffAndClose(Cause)
    }

    /// UNAUTHENTICATED answers after which the connection is closed; 0 means no limit.
    let maxUnauthenticatedCalls: Int
    /// How often the client may PING (§13), applied as `pingReceived` says.
    let pingPolicy: PingPolicy
    private(set) var phase = Phase.active
    private(set) var openStreams = 0
    /// The opaque data of the keepalive PING waiting for its ACK.
    private(set) var pingInFlight: UInt64?
    private var unauthenticatedCalls = 0
    /// Why the server drains the connection, once it does.
    private(set) var drainCause: Cause?
    /// The highest stream id the client opened.
    private(set) var lastStreamID = 0
    /// The opaque data of a graceful drain's PING, until its ACK: the connection stays open until then.
    private(set) var drainPing: UInt64?
    /// Consecutive early client PINGs, and when the last client PING came.
    private(set) var pingStrikes = 0
    private var lastPingReceived: NIODeadline?
    /// Whether the client's first SETTINGS arrived (its connection preface is complete).
    private(set) var settingsReceived = false
    /// Whether the server's bytes wait past the outbound high-water mark.
    private(set) var unwritable = false

    init(maxUnauthenticatedCalls: Int, pingPolicy: PingPolicy = PingPolicy()) {
        self.maxUnauthenticatedCalls = maxUnauthenticatedCalls
        self.pingPolicy = pingPolicy
    }

    // MARK: Streams

    /// A stream opened; `id` is its HTTP/2 stream id when known.
    mutating func streamOpened(id: Int = 0) -> Action {
        guard phase != .closed else { return .none }
        lastStreamID = max(lastStreamID, id)
        openStreams += 1
        return openStreams == 1 ? .stopIdleClock : .none
    }

    mutating func streamClosed() -> Action {
        guard phase != .closed, openStreams > 0 else { return .none }
        openStreams -= 1
        guard openStreams == 0 else { return .none }
        guard phase == .draining else { return .startIdleClock }
        return drainPing == nil ? close() : .none  // a stream may still arrive until the drain PING's ACK
    }

    /// The idle clock ran out. It is stopped when a stream opens, but its task may already be queued: check again.
    /// The drain is graceful: a request the client sent as the timer fired is still served.
    mutating func idleTimeoutFired(opaque: UInt64) -> Action {
        guard phase == .active, openStreams == 0 else { return .none }
        return gracefulGoAway(.idleTimeout, opaque: opaque, graceDeadline: nil)
    }

    /// Whether the connection has answered its `maxUnauthenticatedCalls` UNAUTHENTICATED calls: it is closing, and
    /// its streams answer nothing more (a stream still arriving or finishing UNAUTHENTICATED is reset).
    var unauthenticatedLimitReached: Bool {
        maxUnauthenticatedCalls > 0 && unauthenticatedCalls >= maxUnauthenticatedCalls
    }

    /// A call was answered UNAUTHENTICATED (its answer is written): the limit's last one ends the connection, as on
    /// the native protocol. GOAWAY names the last stream the client opened, so that it knows a later one was not
    /// processed; the streams still open are answered or reset (`unauthenticatedLimitReached`), and the connection
    /// closes when the last ends, or at `graceDeadline`.
    mutating func unauthenticatedCallFinished(graceDeadline: NIODeadline?) -> Action {
        unauthenticatedCalls = unauthenticatedCalls.addingReportingOverflow(1).partialValue
        guard maxUnauthenticatedCalls > 0, unauthenticatedCalls >= maxUnauthenticatedCalls else { return .none }
        switch phase {
        case .active:
            return goAway(.unauthenticatedCalls, lastStreamID: lastStreamID, closeNow: openStreams == 0, graceDeadline: graceDeadline)
        case .draining: return openStreams == 0 ? close() : .none  // its GOAWAY is out already
        case .closed: return .none
        }
    }

    // MARK: Draining

    /// The server drains the connection (graceful shutdown, or its maximum age): GOAWAY and a PING with `opaque`;
    /// the open streams, and those the client opens until the PING's ACK, may end until `graceDeadline`. A second
    /// drain changes nothing: the first GOAWAY and its deadline stand (as native).
    mutating func drain(_ cause: Cause, graceDeadline: NIODeadline?, opaque: UInt64) -> Action {
        guard phase == .active else { return .none }
        return gracefulGoAway(cause, opaque: opaque, graceDeadline: graceDeadline)
    }

    /// A PING ACK arrived: if it answers the drain's PING, the final GOAWAY.
    mutating func drainPingAnswered(_ opaque: UInt64) -> Action {
        guard drainPing == opaque else { return .none }
        return finalGoAway()
    }

    /// The drain's PING got no ACK in time: the final GOAWAY all the same.
    mutating func drainPingTimedOut() -> Action {
        guard drainPing != nil else { return .none }
        return finalGoAway()
    }

    private mutating func gracefulGoAway(_ cause: Cause, opaque: UInt64, graceDeadline: NIODeadline?) -> Action {
        phase = .draining
        drainCause = cause
        drainPing = opaque
        return .goAwayAndPing(cause, opaque: opaque, graceDeadline: graceDeadline)
    }

    private mutating func finalGoAway() -> Action {
        drainPing = nil
        guard phase == .draining else { return .none }
        let close = openStreams == 0
        if close { phase = .closed }
        return .finalGoAway(drainCause ?? .shutdown, lastStreamID: lastStreamID, close: close)
    }

    /// The client sent GOAWAY: it opens no more streams, so the connection closes once its streams are done.
    mutating func peerGoAwayReceived() -> Action {
        guard phase == .active else { return .none }
        if openStreams == 0 { return close() }
        phase = .draining
        return .none
    }

    // MARK: Keepalive

    /// The keepalive interval passed: whether to send a PING with `opaque` (not while one is unanswered, nor once
    /// closed); the handler then starts the timeout.
    mutating func keepaliveDue(opaque: UInt64) -> Bool {
        guard phase != .closed, pingInFlight == nil else { return false }
        pingInFlight = opaque
        return true
    }

    /// A PING ACK arrived: whether it answers the keepalive PING (then the handler stops the timeout).
    mutating func pingAcknowledged(_ opaque: UInt64) -> Bool {
        guard pingInFlight == opaque else { return false }
        pingInFlight = nil
        return true
    }

    /// No ACK within the timeout: the peer (or the path to it) is gone, so the connection closes at once, even
    /// while it drains.
    mutating func keepaliveTimedOut() -> Action {
        guard pingInFlight != nil else { return .none }
        pingInFlight = nil
        switch phase {
        case .active: return goAway(.keepaliveTimeout, closeNow: true, graceDeadline: nil)
        case .draining: return close()
        case .closed: return .none
        }
    }

    // MARK: Handshake

    /// The client's SETTINGS arrived: whether it was the first (then the handler stops the handshake timer).
    mutating func clientSettingsReceived() -> Bool {
        defer { settingsReceived = true }
        return !settingsReceived
    }

    /// The connection came while the server could not take it (`Cause.overloaded`): GOAWAY at once (after the
    /// server's SETTINGS, which swift-nio-http2 sends first) with last stream id 0, since it serves none, then close.
    mutating func refuse(_ cause: Cause) -> Action {
        guard phase == .active else { return .none }
        phase = .closed
        return .refuse(cause)
    }

    /// The handshake timeout passed: a client that has not completed its preface (the HTTP/2 magic and SETTINGS) is
    /// sent GOAWAY PROTOCOL_ERROR and closed, as a native client without SETTINGS is (§2.3). The timer is stopped
    /// when SETTINGS come, but its task may already be queued: check again.
    mutating func handshakeTimedOut(after timeout: Duration) -> Action {
        guard !settingsReceived, phase != .closed else { return .none }
        return goAway(.handshakeTimeout(timeout), closeNow: true, graceDeadline: nil)
    }

    // MARK: Writability

    /// The connection's writability changed: past the outbound high-water mark the unwritable clock runs, as on
    /// native connections (§12).
    mutating func writabilityChanged(writable: Bool) -> Action {
        guard phase != .closed, unwritable == writable else { return .none }
        unwritable = !writable
        return writable ? .stopUnwritableClock : .startUnwritableClock
    }

    /// The unwritable timeout passed: a connection still unwritable (its client reads nothing of the answers) gets
    /// GOAWAY ENHANCE_YOUR_CALM and is closed, as a native one is. The clock is stopped when it becomes writable, but
    /// the timer's task may already be queued: check again.
    mutating func unwritableTimedOut(after timeout: Duration) -> Action {
        guard unwritable else { return .none }
        switch phase {
        case .active: return goAway(.slowReader(timeout), closeNow: true, graceDeadline: nil)
        case .draining: return close()  // a GOAWAY is out already
        case .closed: return .none
        }
    }

    // MARK: The client's PINGs

    /// The client sent a PING (not an ACK) at `now`. The native policy (§13): a PING sooner than the minimum interval
    /// after the previous one is a strike, one on time clears the strikes, and one strike more than the maximum ends
    /// the connection: GOAWAY ENHANCE_YOUR_CALM `too_many_pings` and close (swift-nio-http2 has acknowledged that
    /// PING already). With gRPC's exemption, as grpc-go's and grpc-java's servers make it: a PING after the server
    /// sent anything on a stream since the previous one (`answeredSincePrevious`: HEADERS, a message or trailers) is
    /// never a strike, so a client's flow-control probes (grpcio's BDP pings, one per burst of data it receives)
    /// are not mistaken for a flood.
    mutating func pingReceived(at now: NIODeadline, answeredSincePrevious: Bool) -> Action {
        defer { lastPingReceived = now }
        guard !answeredSincePrevious, let last = lastPingReceived, now - last < TimeAmount(pingPolicy.minimumInterval) else {
            pingStrikes = 0
            return .none
        }
        pingStrikes += 1
        guard pingStrikes > pingPolicy.maximumStrikes else { return .none }
        switch phase {
        case .active: return goAway(.tooManyPings, closeNow: true, graceDeadline: nil)
        case .draining: return close()  // a GOAWAY is out already; another may not name more streams
        case .closed: return .none
        }
    }

    // MARK: Closing

    /// The client closed its side of the TCP connection (FIN). HTTP/2 ends a request with END_STREAM, never with a
    /// FIN, so the client is gone (or sends nothing more, not even the PING ACKs and WINDOW_UPDATEs an answer may
    /// wait for): the connection closes now, and its open streams' handlers are cancelled. Without this the server
    /// held the socket in CLOSE-WAIT until the idle or keepalive timeout, minutes of a connection slot per client.
    mutating func inputClosed() -> Action {
        guard phase != .closed else { return .none }
        return close()
    }

    /// swift-nio-http2 met a connection error (the client broke HTTP/2): it has sent GOAWAY with the error's code and
    /// stops parsing, but it neither closes the connection nor stops reading it, so the bytes the client goes on
    /// sending would pile up in its frame decoder. The connection closes now.
    mutating func connectionErrorCaught() -> Action {
        guard phase != .closed else { return .none }
        return close()
    }

    /// The grace deadline passed while streams were still open: they are cut off, as native calls are (§14).
    mutating func graceExpired() -> Action {
        guard phase != .closed else { return .none }
        phase = .closed
        return openStreams > 0 ? .cutOffAndClose(drainCause ?? .shutdown) : .close
    }

    /// The channel closed.
    mutating func channelClosed() {
        phase = .closed
    }

    private mutating func goAway(
        _ cause: Cause, lastStreamID: Int? = nil, closeNow: Bool, graceDeadline: NIODeadline?
    ) -> Action {
        phase = closeNow ? .closed : .draining
        drainCause = cause
        return .goAway(cause, lastStreamID: lastStreamID, close: closeNow, graceDeadline: closeNow ? nil : graceDeadline)
    }

    private mutating func close() -> Action {
        phase = .closed
        return .close
    }
}
