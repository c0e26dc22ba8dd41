import CopsLinkTransport
import NIOCore
import NIOHTTP2
import Testing

@testable import CopsLinkGRPC

/// Each transition of a gRPC connection's rules, without a channel: a sequence of events and the actions they return.
@Suite("gRPC connection state machine")
struct GRPCConnectionStateMachineTests {
    typealias Machine = GRPCConnectionStateMachine

    @Test func theIdleClockRunsOnlyWhileNoStreamIsOpen() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        let actions = [
            machine.streamOpened(id: 1), machine.streamOpened(id: 3), machine.streamClosed(),
            machine.idleTimeoutFired(opaque: 1),  // queued before the stream opened: changes nothing
            machine.streamClosed(), machine.idleTimeoutFired(opaque: 2), machine.idleTimeoutFired(opaque: 3)
        ]
        #expect(
            actions == [
                .stopIdleClock, .none, .none, .none, .startIdleClock, .goAwayAndPing(.idleTimeout, opaque: 2, graceDeadline: nil), .none
            ])
        #expect(machine.phase == .draining, "a request sent as the timer fired is still served")
        let answered = machine.drainPingAnswered(2)
        #expect(answered == .finalGoAway(.idleTimeout, lastStreamID: 3, close: true))
        #expect(machine.phase == .closed)
    }

    /// gRPC's graceful GOAWAY: the first names every stream and goes with a PING; streams the client opened before it
    /// saw it are served; the PING's ACK brings the final GOAWAY naming the last stream opened.
    @Test func aDrainServesTheStreamsOpenedUntilItsPingIsAnswered() {
        let deadline = NIODeadline.uptimeNanoseconds(1_000)
        var machine = Machine(maxUnauthenticatedCalls: 3)
        _ = (machine.streamOpened(id: 1), machine.streamOpened(id: 3))
        let first = machine.drain(.maxConnectionAge, graceDeadline: deadline, opaque: 9)
        #expect(first == .goAwayAndPing(.maxConnectionAge, opaque: 9, graceDeadline: deadline))
        #expect(machine.phase == .draining)
        let actions = [
            machine.drain(.shutdown, graceDeadline: .uptimeNanoseconds(10), opaque: 10),  // the first GOAWAY stands
            machine.streamClosed(), machine.streamClosed(),  // none open, but the PING is unanswered
            machine.streamOpened(id: 5),  // sent before the client saw the GOAWAY
            machine.drainPingAnswered(10),  // not the drain's PING
            machine.drainPingAnswered(9), machine.drainPingTimedOut(), machine.streamClosed()
        ]
        #expect(
            actions == [
                .none, .none, .none, .stopIdleClock, .none, .finalGoAway(.maxConnectionAge, lastStreamID: 5, close: false), .none, .close
            ])
        #expect(machine.phase == .closed)
    }

    @Test func aDrainPingWithoutAckEndsTheDrainAllTheSame() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        let actions = [machine.drain(.shutdown, graceDeadline: nil, opaque: 4), machine.drainPingTimedOut(), machine.drainPingAnswered(4)]
        #expect(
            actions == [
                .goAwayAndPing(.shutdown, opaque: 4, graceDeadline: nil), .finalGoAway(.shutdown, lastStreamID: 0, close: true), .none
            ])
    }

    @Test func theGraceCutsOffWhatIsStillOpen() {
        var busy = Machine(maxUnauthenticatedCalls: 3)
        _ = busy.streamOpened(id: 1)
        let actions = [
            busy.drain(.shutdown, graceDeadline: .uptimeNanoseconds(5), opaque: 1), busy.graceExpired(), busy.graceExpired(),
            busy.streamClosed()
        ]
        #expect(
            actions == [
                .goAwayAndPing(.shutdown, opaque: 1, graceDeadline: .uptimeNanoseconds(5)), .cutOffAndClose(.shutdown), .none, .none
            ])
        var aged = Machine(maxUnauthenticatedCalls: 3)
        _ = aged.streamOpened(id: 1)
        let cutOff = [aged.drain(.maxConnectionAge, graceDeadline: .uptimeNanoseconds(5), opaque: 1), aged.graceExpired()]
        #expect(cutOff.last == .cutOffAndClose(.maxConnectionAge))
        var emptied = Machine(maxUnauthenticatedCalls: 3)
        let closed = [emptied.drain(.shutdown, graceDeadline: .uptimeNanoseconds(5), opaque: 1), emptied.graceExpired()]
        #expect(closed.last == .close, "no stream to cut off: the PING's ACK never came")
        #expect(
            Machine.Cause.maxConnectionAge.cutOff
                == "the connection reached its maximum age and its grace period ended before the call finished")
        #expect(Machine.Cause.shutdown.cutOff == "the server shut down before the call finished")
    }

    @Test func thePeersGoAwayClosesOnceItsStreamsAreDone() {
        var quiet = Machine(maxUnauthenticatedCalls: 3)
        let closed = quiet.peerGoAwayReceived()
        #expect(closed == .close)
        var busy = Machine(maxUnauthenticatedCalls: 3)
        let actions = [busy.streamOpened(), busy.peerGoAwayReceived(), busy.idleTimeoutFired(opaque: 1), busy.streamClosed()]
        #expect(actions == [.stopIdleClock, .none, .none, .close])
    }

    @Test func keepalivePingsOneAtATimeAndAMissingAckCloses() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        let pings = [
            machine.keepaliveDue(opaque: 7), machine.keepaliveDue(opaque: 8),  // not while one is unanswered
            machine.pingAcknowledged(8),  // the ACK of another PING (the client's own) is not ours
            machine.pingAcknowledged(7), machine.keepaliveDue(opaque: 9)
        ]
        #expect(pings == [true, false, false, true, true])
        let timedOut = machine.keepaliveTimedOut()
        #expect(timedOut == .goAway(.keepaliveTimeout, close: true, graceDeadline: nil))
        let afterwards = machine.keepaliveDue(opaque: 10)
        #expect(!afterwards, "closed")

        var answered = Machine(maxUnauthenticatedCalls: 3)
        let late = [answered.keepaliveDue(opaque: 1), answered.pingAcknowledged(1)]
        let timeout = answered.keepaliveTimedOut()
        #expect(late == [true, true] && timeout == .none, "a timeout already queued when the ACK came changes nothing")
    }

    @Test func aMissingAckClosesADrainingConnectionAtOnce() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        _ = machine.streamOpened()
        _ = machine.drain(.maxConnectionAge, graceDeadline: .uptimeNanoseconds(5), opaque: 2)
        let pinged = machine.keepaliveDue(opaque: 1)
        let timedOut = machine.keepaliveTimedOut()
        #expect(pinged && timedOut == .close)
    }

    /// The limit's last UNAUTHENTICATED answer (already written) ends the connection: GOAWAY names the last stream
    /// the client opened, the streams still open end (answered or reset) within the grace, then it closes.
    @Test func theLastAllowedUnauthenticatedCallEndsTheConnection() {
        let grace = NIODeadline.uptimeNanoseconds(7)
        var machine = Machine(maxUnauthenticatedCalls: 2)
        let actions = [
            machine.streamOpened(id: 1), machine.unauthenticatedCallFinished(graceDeadline: grace), machine.streamOpened(id: 3),
            machine.streamOpened(id: 5), machine.unauthenticatedCallFinished(graceDeadline: grace)
        ]
        #expect(
            actions == [
                .stopIdleClock, .none, .none, .none, .goAway(.unauthenticatedCalls, lastStreamID: 5, close: false, graceDeadline: grace)
            ])
        #expect(machine.unauthenticatedLimitReached)
        #expect([machine.streamClosed(), machine.streamClosed(), machine.streamClosed()] == [.none, .none, .close])
        // With no stream open (the answer's stream already closed), it closes at once.
        var idle = Machine(maxUnauthenticatedCalls: 1)
        _ = idle.streamOpened(id: 9)
        _ = idle.streamClosed()
        #expect(
            idle.unauthenticatedCallFinished(graceDeadline: grace)
                == .goAway(.unauthenticatedCalls, lastStreamID: 9, close: true, graceDeadline: nil))
        // Streams still running at the grace's end are cut off with the cause's message.
        var late = Machine(maxUnauthenticatedCalls: 1)
        _ = late.streamOpened(id: 1)
        _ = late.unauthenticatedCallFinished(graceDeadline: grace)
        #expect(late.graceExpired() == .cutOffAndClose(.unauthenticatedCalls))
        var unlimited = Machine(maxUnauthenticatedCalls: 0)
        let many = (0..<10).map { _ in unlimited.unauthenticatedCallFinished(graceDeadline: grace) }
        #expect(many.allSatisfy { $0 == .none })
        var draining = Machine(maxUnauthenticatedCalls: 1)
        _ = draining.streamOpened()
        _ = draining.drain(.shutdown, graceDeadline: nil, opaque: 2)
        #expect(draining.unauthenticatedCallFinished(graceDeadline: grace) == .none, "its GOAWAY is out already; the drain goes on")
    }

    @Test func onlyTheClosesTheClientCausedCountAsRejections() {
        let causes: [Machine.Cause] = [.shutdown, .maxConnectionAge, .idleTimeout, .keepaliveTimeout, .unauthenticatedCalls]
        #expect(causes.map(\.rejection) == [nil, nil, .idleTimeout, .keepaliveTimeout, .unauthenticatedCalls])
    }

    /// The native ping policy (§13): consecutive early PINGs are strikes, one on time clears them, the strike past the
    /// maximum ends the connection with ENHANCE_YOUR_CALM; a PING after the server answered something is exempt.
    @Test func pingsTooOftenEndTheConnectionUnlessTheServerAnsweredInBetween() {
        var policy = PingPolicy()
        policy.minimumInterval = .seconds(1)
        policy.maximumStrikes = 2
        var machine = Machine(maxUnauthenticatedCalls: 3, pingPolicy: policy)
        func at(_ ms: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(ms) * 1_000_000) }
        // First PING never a strike; two early ones are strikes; one on time clears them.
        let early = [0, 100, 200].map { machine.pingReceived(at: at($0), answeredSincePrevious: false) }
        #expect(early == [.none, .none, .none] && machine.pingStrikes == 2)
        #expect(machine.pingReceived(at: at(1_200), answeredSincePrevious: false) == .none && machine.pingStrikes == 0)
        // Early PINGs each after an answer (a client's flow-control probes) are never strikes.
        let probes = (1...10).map { machine.pingReceived(at: at(1_200 + Int64($0)), answeredSincePrevious: true) }
        #expect(probes.allSatisfy { $0 == .none } && machine.pingStrikes == 0)
        // Three early PINGs without an answer: the third passes the maximum of two.
        let flood = (1...3).map { machine.pingReceived(at: at(1_300 + Int64($0)), answeredSincePrevious: false) }
        #expect(flood == [.none, .none, .goAway(.tooManyPings, close: true, graceDeadline: nil)])
        #expect(machine.phase == .closed)
        #expect(Machine.Cause.tooManyPings.errorCode == .enhanceYourCalm && Machine.Cause.tooManyPings.goAwayMessage == "too_many_pings")
        #expect(Machine.Cause.tooManyPings.rejection == .tooManyPings && Machine.Cause.idleTimeout.errorCode == .noError)
    }

    /// While draining, a GOAWAY is out already (and a new one may not name more streams): the flood just closes.
    @Test func pingsTooOftenWhileDrainingClose() {
        var policy = PingPolicy()
        policy.maximumStrikes = 0
        var machine = Machine(maxUnauthenticatedCalls: 3, pingPolicy: policy)
        _ = machine.streamOpened(id: 1)
        _ = machine.drain(.shutdown, graceDeadline: nil, opaque: 1)
        #expect(machine.pingReceived(at: .uptimeNanoseconds(0), answeredSincePrevious: false) == .none)
        #expect(machine.pingReceived(at: .uptimeNanoseconds(1), answeredSincePrevious: false) == .close)
    }

    @Test func theHandshakeTimeoutClosesOnlyAClientWithoutSettings() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        #expect(machine.clientSettingsReceived() && !machine.clientSettingsReceived(), "only the first SETTINGS stops the timer")
        #expect(machine.handshakeTimedOut(after: .seconds(10)) == .none, "a queued timer after SETTINGS changes nothing")
        var silent = Machine(maxUnauthenticatedCalls: 3)
        #expect(silent.handshakeTimedOut(after: .seconds(10)) == .goAway(.handshakeTimeout(.seconds(10)), close: true, graceDeadline: nil))
        #expect(silent.phase == .closed && silent.handshakeTimedOut(after: .seconds(10)) == .none)
        #expect(Machine.Cause.handshakeTimeout(.seconds(10)).goAwayMessage == "no HTTP/2 SETTINGS within 10s")
        #expect(Machine.Cause.handshakeTimeout(.seconds(10)).errorCode == .protocolError)
    }

    /// A connection that comes while the server is over its inbound budget is refused once: GOAWAY ENHANCE_YOUR_CALM
    /// with last stream id 0, counted as `overloaded`, then nothing more (no timer may send a second GOAWAY).
    @Test func anOverloadedConnectionIsRefusedOnce() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        let cause = Machine.Cause.overloaded(budget: 64)
        #expect(machine.refuse(cause) == .refuse(cause))
        #expect(machine.phase == .closed)
        #expect(machine.refuse(cause) == .none && machine.handshakeTimedOut(after: .seconds(10)) == .none)
        #expect(cause.errorCode == .enhanceYourCalm && cause.rejection == .overloaded)
        #expect(cause.goAwayMessage == "the server is over its inbound memory budget of 64 bytes; retry later or on another server")
    }

    @Test func theUnwritableClockRunsWhileTheConnectionIsUnwritable() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        let actions = [
            machine.writabilityChanged(writable: true), machine.writabilityChanged(writable: false),
            machine.writabilityChanged(writable: false), machine.writabilityChanged(writable: true),
            machine.unwritableTimedOut(after: .seconds(30)),  // queued before it became writable: nothing
            machine.writabilityChanged(writable: false)
        ]
        #expect(actions == [.none, .startUnwritableClock, .none, .stopUnwritableClock, .none, .startUnwritableClock])
        #expect(machine.unwritableTimedOut(after: .seconds(30)) == .goAway(.slowReader(.seconds(30)), close: true, graceDeadline: nil))
        #expect(machine.phase == .closed && machine.writabilityChanged(writable: true) == .none)
        #expect(Machine.Cause.slowReader(.seconds(30)).errorCode == .enhanceYourCalm)
        #expect(Machine.Cause.slowReader(.seconds(30)).rejection == .slowReader)
        var draining = Machine(maxUnauthenticatedCalls: 3)
        _ = (draining.streamOpened(id: 1), draining.drain(.shutdown, graceDeadline: nil, opaque: 1))
        _ = draining.writabilityChanged(writable: false)
        #expect(draining.unwritableTimedOut(after: .seconds(30)) == .close)
    }

    @Test func aConnectionErrorClosesAtOnceEvenWhileDraining() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        _ = (machine.streamOpened(id: 1), machine.drain(.shutdown, graceDeadline: nil, opaque: 1))
        #expect(machine.connectionErrorCaught() == .close && machine.phase == .closed)
        #expect(machine.connectionErrorCaught() == .none, "once")
    }

    @Test func theClientsFinClosesEvenWithStreamsOpen() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        _ = machine.streamOpened(id: 1)
        #expect(machine.inputClosed() == .close && machine.phase == .closed)
        #expect(machine.inputClosed() == .none)
    }
}
