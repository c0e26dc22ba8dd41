import CopsLinkTransport
import NIOCore
import Testing

@testable import CopsLinkGRPC

/// Each transition of a gRPC connection's rules, without a channel: a sequence of events and the actions they return.
@Suite("gRPC connection state machine")
struct GRPCConnectionStateMachineTests {
    typealias Machine = GRPCConnectionStateMachine

    @Test func theIdleClockRunsOnlyWhileNoStreamIsOpen() {
        var machine = Machine(maxUnauthenticatedCalls: 3)
        let actions = [
            machine.streamOpened(), machine.streamOpened(), machine.streamClosed(),
            machine.idleTimeoutFired(),  // queued before the stream opened: changes nothing
            machine.streamClosed(), machine.idleTimeoutFired(), machine.idleTimeoutFired(), machine.streamOpened()
        ]
        #expect(
            actions == [
                .stopIdleClock, .none, .none, .none, .startIdleClock, .goAway(.idleTimeout, close: true, graceDeadline: nil), .none,
                .none
            ])
        #expect(machine.phase == .closed)
    }

    @Test func aDrainWaitsForTheOpenStreamsUntilItsDeadline() {
        let deadline = NIODeadline.uptimeNanoseconds(1_000)
        var machine = Machine(maxUnauthenticatedCalls: 3)
        _ = (machine.streamOpened(), machine.streamOpened())
        let first = machine.drain(.maxConnectionAge, graceDeadline: deadline)
        #expect(first == .goAway(.maxConnectionAge, close: false, graceDeadline: deadline))
        #expect(machine.phase == .draining)
        let actions = [
            machine.drain(.shutdown, graceDeadline: .uptimeNanoseconds(10)),  // the first GOAWAY stands
            machine.idleTimeoutFired(), machine.streamClosed(), machine.streamClosed()
        ]
        #expect(actions == [.none, .none, .none, .close])
        #expect(machine.phase == .closed)
    }

    @Test func aDrainWithoutStreamsClosesAtOnceAndTheGraceEndsTheRest() {
        var idle = Machine(maxUnauthenticatedCalls: 3)
        let drained = idle.drain(.shutdown, graceDeadline: .uptimeNanoseconds(5))
        #expect(drained == .goAway(.shutdown, close: true, graceDeadline: nil))
        var busy = Machine(maxUnauthenticatedCalls: 3)
        _ = busy.streamOpened()
        let actions = [
            busy.drain(.shutdown, graceDeadline: .uptimeNanoseconds(5)), busy.graceExpired(), busy.graceExpired(), busy.streamClosed()
        ]
        #expect(
            actions == [.goAway(.shutdown, close: false, graceDeadline: .uptimeNanoseconds(5)), .cutOffAndClose(.shutdown), .none, .none])
        var aged = Machine(maxUnauthenticatedCalls: 3)
        _ = aged.streamOpened()
        let cutOff = [aged.drain(.maxConnectionAge, graceDeadline: .uptimeNanoseconds(5)), aged.graceExpired()]
        #expect(cutOff.last == .cutOffAndClose(.maxConnectionAge))
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
        let actions = [busy.streamOpened(), busy.peerGoAwayReceived(), busy.idleTimeoutFired(), busy.streamClosed()]
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
        _ = machine.drain(.maxConnectionAge, graceDeadline: .uptimeNanoseconds(5))
        let pinged = machine.keepaliveDue(opaque: 1)
        let timedOut = machine.keepaliveTimedOut()
        #expect(pinged && timedOut == .close)
    }

    @Test func theLastAllowedUnauthenticatedCallCloses() {
        var machine = Machine(maxUnauthenticatedCalls: 2)
        let actions = [machine.streamOpened(), machine.unauthenticatedCallFinished(), machine.unauthenticatedCallFinished()]
        #expect(actions == [.stopIdleClock, .none, .goAway(.unauthenticatedCalls, close: true, graceDeadline: nil)])
        var unlimited = Machine(maxUnauthenticatedCalls: 0)
        let many = (0..<10).map { _ in unlimited.unauthenticatedCallFinished() }
        #expect(many.allSatisfy { $0 == .none })
        var draining = Machine(maxUnauthenticatedCalls: 1)
        _ = draining.streamOpened()
        _ = draining.drain(.shutdown, graceDeadline: nil)
        let last = draining.unauthenticatedCallFinished()
        #expect(last == .close, "its GOAWAY is out already")
    }

    @Test func onlyTheClosesTheClientCausedCountAsRejections() {
        let causes: [Machine.Cause] = [.shutdown, .maxConnectionAge, .idleTimeout, .keepaliveTimeout, .unauthenticatedCalls]
        #expect(causes.map(\.rejection) == [nil, nil, .idleTimeout, .keepaliveTimeout, .unauthenticatedCalls])
    }
}
