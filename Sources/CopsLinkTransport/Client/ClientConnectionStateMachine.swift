import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire

/// The rules of one client connection (PROTOCOL.md §2, §6, §12, §14): when calls may start, call ids, the server's
/// concurrency limit and the bounded queue behind it, SETTINGS, GOAWAY and draining.
///
/// A value type the handler owns and feeds with events; each returns what to do and `ClientConnectionHandler`
/// performs it. The calls themselves (their slots by id, the queue's frames) and the timers stay in the handler.
struct ClientConnectionStateMachine {
    enum Phase: Equatable {
        /// Preface and SETTINGS sent; waiting for the server's SETTINGS.
        case connecting
        case ready
        /// The server sent GOAWAY: no new call starts; the connection closes once the calls it kept are answered.
        case draining
        case closed
    }

    private(set) var phase = Phase.connecting
    /// Why the connection failed, when it did: a call that finds it closed says so (the task that started it may
    /// have picked the connection just before).
    private(set) var failure: String?
    /// The id the next call that gets a slot will use; ids below it have been used (§6).
    private(set) var nextCallID: UInt64 = 1
    /// Calls holding one of the server's slots.
    private(set) var activeCalls = 0
    /// Calls waiting for a slot, in order.
    private(set) var queuedCalls = 0
    /// The server's concurrency limit, from its latest SETTINGS.
    private(set) var maxConcurrentCalls: Int
    let maxQueuedCalls: Int

    init(maxQueuedCalls: Int) {
        self.maxQueuedCalls = maxQueuedCalls
        self.maxConcurrentCalls = PeerLimits(SettingsHeader()).maxConcurrentCalls
    }

    /// Pings go out while calls can still be answered.
    var sendsKeepalive: Bool { phase == .ready || phase == .draining }

    /// Whether a frame naming `callID` names a call this client never opened (rather than one that already ended).
    func neverOpened(_ callID: UInt64) -> Bool { callID >= nextCallID }

    /// Why the calls fail when the channel goes inactive.
    var closedMessage: String {
        phase == .draining ? "the server closed the connection after GOAWAY" : "the connection to the server closed"
    }

    // MARK: Starting calls

    enum StartAction: Equatable {
        /// Write the REQUEST with this id now.
        case start(callID: UInt64)
        /// Wait for a slot, in order.
        case queue
        case fail(RPCError)
    }

    /// A call asks to start.
    mutating func startRequested() -> StartAction {
        guard phase == .ready else {
            return .fail(
                RPCError(
                    code: .unavailable,
                    message:
                        "the connection is \(phase == .draining ? "draining after GOAWAY" : "closed")\(failure.map { " (\($0))" } ?? ""); retry the call"
                ))
        }
        if activeCalls < maxConcurrentCalls { return .start(callID: takeCallID()) }
        guard queuedCalls < maxQueuedCalls else {
            return .fail(
                RPCError(
                    code: .resourceExhausted,
                    message:
                        "client call queue is full: \(maxQueuedCalls) calls are waiting for one of the server's \(maxConcurrentCalls) call slots"
                ))
        }
        queuedCalls += 1
        return .queue
    }

    /// The id for the first queued call, if a slot is free for it now.
    mutating func nextQueuedCallStarts() -> UInt64? {
        guard phase == .ready, queuedCalls > 0, activeCalls < maxConcurrentCalls else { return nil }
        queuedCalls -= 1
        return takeCallID()
    }

    private mutating func takeCallID() -> UInt64 {
        activeCalls += 1
        defer { nextCallID += 1 }
        return nextCallID
    }

    /// A queued call left the queue without starting (cancelled, deadline).
    mutating func queuedCallRemoved() {
        assert(queuedCalls > 0)
        queuedCalls -= 1
    }

    /// A call holding a slot ended (END, cancelled, failed by GOAWAY).
    mutating func activeCallEnded() {
        assert(activeCalls > 0)
        activeCalls -= 1
    }

    /// Whether a draining connection has nothing left to wait for; then it is closed.
    mutating func closesWhenDrained() -> Bool {
        guard phase == .draining, activeCalls == 0, queuedCalls == 0 else { return false }
        phase = .closed
        return true
    }

    // MARK: Frames from the server

    enum SettingsAction: Equatable {
        /// ACK it; `first`: the connection is ready (keepalive starts); otherwise queued calls may start now.
        case acknowledge(first: Bool)
        case violation(String)
    }

    mutating func settingsReceived(_ settings: SettingsHeader) -> SettingsAction {
        if let violation = PeerLimits.violation(in: settings) { return .violation("the server broke the protocol: \(violation)") }
        // Only the concurrency limit follows later SETTINGS (PROTOCOL.md §2.2); frame sizes and windows stay.
        maxConcurrentCalls = PeerLimits(settings).maxConcurrentCalls
        guard phase == .connecting else { return .acknowledge(first: false) }
        phase = .ready
        return .acknowledge(first: true)
    }

    /// The server sent GOAWAY: the handler fails the calls above its `last_call_id` and every queued call (never
    /// processed), then asks `closesWhenDrained()`. Returns whether the connection was still connecting (then the
    /// attempt fails).
    mutating func goAwayReceived() -> Bool {
        let wasConnecting = phase == .connecting
        if phase != .closed { phase = .draining }
        return wasConnecting
    }

    /// Every call fails at once (protocol violation, I/O error, keepalive timeout, channel inactive) and the
    /// connection is unusable. Returns whether it was still connecting (then the attempt fails too).
    mutating func failed(because reason: String? = nil) -> Bool {
        let wasConnecting = phase == .connecting
        if phase != .closed { failure = reason }
        phase = .closed
        activeCalls = 0
        queuedCalls = 0
        return wasConnecting
    }
}
