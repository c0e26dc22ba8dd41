import CopsLinkCore
import CopsLinkMessages
import CopsLinkWire
import NIOCore
import Testing

@testable import CopsLinkTransport

/// The server connection's rules, event by event, without a channel. (`#expect` cannot call a mutating method on a
/// captured variable, hence the `let step = ...` before each expectation on an event.)
@Suite("Server connection state machine")
struct ServerConnectionStateMachineTests {
    private typealias Machine = ServerConnectionStateMachine

    private static func machine(_ configure: (inout ServerConfiguration) -> Void = { _ in }) -> Machine {
        var configuration = ServerConfiguration()
        configure(&configuration)
        return Machine(policy: .init(configuration))
    }

    /// A machine past the handshake.
    private static func active(_ configure: (inout ServerConfiguration) -> Void = { _ in }) -> Machine {
        var machine = machine(configure)
        machine.prefaceReceived()
        do {
            let step = machine.settingsReceived(SettingsHeader())
            #expect(step == .acknowledge(startsConnection: true))
        }
        return machine
    }

    /// Opens call `id` as the handler would.
    private static func open(_ id: UInt64, on machine: inout Machine) {
        do {
            let step = machine.requestReceived(callID: id)
            #expect(step == nil)
        }
        #expect(machine.admitCall(id) == .admit)
        machine.callOpened()
    }

    // MARK: Handshake

    @Test func onlySettingsMayFollowThePreface() {
        var machine = Self.machine()
        machine.prefaceReceived()
        #expect(machine.phase == .awaitingSettings)
        #expect(
            machine.admits(.ping, callID: 0) == Machine.violation(.expectedSettings, "expected SETTINGS after the preface, received PING"))
        #expect(machine.admits(.settings, callID: 0) == nil)
        do {
            let step = machine.settingsReceived(SettingsHeader())
            #expect(step == .acknowledge(startsConnection: true))
        }
        #expect(machine.phase == .active)
        #expect(machine.admits(.ping, callID: 0) == nil)
        // A later SETTINGS is acknowledged but starts nothing again.
        do {
            let step = machine.settingsReceived(SettingsHeader())
            #expect(step == .acknowledge(startsConnection: false))
        }
    }

    @Test func endFramesFromTheClientAreAViolationInEveryPhase() {
        var machine = Self.active()
        #expect(machine.admits(.end, callID: 7)?.reason == .endFromClient)
        #expect(machine.admits(.end, callID: 7)?.message == "END frames are sent by servers only (call 7)")
        machine = Self.machine()
        machine.prefaceReceived()
        #expect(machine.admits(.end, callID: 1)?.reason == .expectedSettings)
    }

    @Test func settingsBelowTheMinimumsCloseTheConnection() {
        var machine = Self.machine()
        machine.prefaceReceived()
        do {
            let step = machine.settingsReceived(SettingsHeader(maxHeaderSize: 100))
            #expect(
                step
                    == .close(
                        Machine.violation(
                            .settingsBelowMinimum, "SETTINGS max_header_size 100 is below the minimum of 1024")))
        }
        #expect(machine.phase == .awaitingSettings)
    }

    @Test func theHandshakeTimeoutSaysWhatIsMissing() {
        var machine = Self.machine()
        #expect(machine.handshakeTimedOut(after: .seconds(10)) == .sendTextAndClose("copslink: no preface within 10s; closing\n"))
        machine.prefaceReceived()
        #expect(
            machine.handshakeTimedOut(after: .milliseconds(2500))
                == .close(
                    Machine.Closure(
                        code: .protocolError, reason: .handshakeTimeout, message: "no SETTINGS within 2.5s of connecting")))
        _ = machine.settingsReceived(SettingsHeader())
        #expect(machine.handshakeTimedOut(after: .seconds(10)) == .none)
    }

    // MARK: Calls

    @Test func callIDsMustIncrease() {
        var machine = Self.active()
        Self.open(5, on: &machine)
        do {
            let step = machine.requestReceived(callID: 5)
            #expect(
                step
                    == Machine.violation(
                        .callIDNotIncreasing, "call id 5 is not greater than the previous call id 5"))
        }
        do {
            let step = machine.requestReceived(callID: 3)
            #expect(step?.reason == .callIDNotIncreasing)
        }
        do {
            let step = machine.requestReceived(callID: 6)
            #expect(step == nil)
        }
        #expect(machine.lastCallID == 6)
    }

    @Test func theConcurrencyLimitRejectsTheNextCallAndFreesASlotWhenOneEnds() {
        var machine = Self.active { $0.limits.maxConcurrentCalls = 2 }
        Self.open(1, on: &machine)
        Self.open(2, on: &machine)
        do {
            let step = machine.requestReceived(callID: 3)
            #expect(step == nil)
        }
        #expect(
            machine.admitCall(3)
                == .reject(
                    .tooManyCalls,
                    RPCError(
                        code: .resourceExhausted, message: "too many concurrent calls: this server allows 2 per connection")))
        #expect(machine.requestRefused() == .none)  // calls still open: no idle clock
        do {
            let step = machine.callEnded(code: .ok)
            #expect(step == .none)
        }
        Self.open(4, on: &machine)
        #expect(machine.openCalls == 2)
    }

    /// Calls cancelled (or past their deadline) while their handler runs count apart until the handler returns, up to
    /// four times the concurrency limit (at least 64): a client that cancelled each call at once started handlers
    /// without bound (3,000 queued writes on one connection). A cancelled call's place among the open calls is free at
    /// once (§10).
    @Test func callsEndedWhileTheirHandlersRunAreBoundedApart() {
        var machine = Self.active { $0.limits.maxConcurrentCalls = 2 }
        #expect(machine.maxEndedCallsRunning == 64)
        var id: UInt64 = 0
        for _ in 0..<64 {
            id += 1
            Self.open(id, on: &machine)  // the cancelled calls' places are free
            let step = machine.callEnded(code: nil, handlerRunning: true)  // CANCEL; the handler still runs
            #expect(step == .startIdleClock)
        }
        id += 1
        do {
            let step = machine.requestReceived(callID: id)
            #expect(step == nil)
        }
        #expect(
            machine.admitCall(id)
                == .reject(
                    .tooManyCalls,
                    RPCError(
                        code: .resourceExhausted,
                        message:
                            "64 calls of this connection that were cancelled or passed their deadline are still finishing; retry shortly")))
        machine.handlerReturned()
        Self.open(id + 1, on: &machine)
        #expect(machine.openCalls == 1 && machine.endedCallsRunning == 63)
    }

    /// An END written after the connection closed (its flush failed and closed the channel) changes nothing: every
    /// call ended with the connection. It once tripped the open-call count's assertion (a crash in debug builds).
    @Test func aCallEndingAfterTheConnectionClosedChangesNothing() {
        var machine = Self.active()
        Self.open(1, on: &machine)
        machine.channelClosed()
        do {
            let step = machine.callEnded(code: .ok, handlerRunning: true)
            #expect(step == .none)
        }
        machine.handlerReturned()
        #expect(machine.openCalls == 0 && machine.endedCallsRunning == 0)
    }

    @Test func theIdleClockStartsWhenTheLastCallEnds() {
        var machine = Self.active()
        #expect(machine.isIdle)
        Self.open(1, on: &machine)
        Self.open(2, on: &machine)
        #expect(!machine.isIdle)
        do {
            let step = machine.callEnded(code: .ok)
            #expect(step == .none)
        }
        do {
            let step = machine.callEnded(code: nil)
            #expect(step == .startIdleClock)
        }
        #expect(machine.isIdle)
    }

    @Test func unauthenticatedAnswersUpToTheLimitGetGoAway() {
        var machine = Self.active { $0.maxUnauthenticatedCalls = 3 }
        for id in 1...2 as ClosedRange<UInt64> {
            Self.open(id, on: &machine)
            do {
                let step = machine.callEnded(code: .unauthenticated)
                #expect(step == .startIdleClock)
            }
        }
        // Call 4 was sent before the third answer reached the client: the connection drains, and call 4 is answered.
        Self.open(3, on: &machine)
        Self.open(4, on: &machine)
        do {
            let step = machine.callEnded(code: .unauthenticated)
            #expect(step == .drain(.unauthenticatedCalls(3)))
        }
        #expect(machine.drainStarted(.unauthenticatedCalls(3)) == .sendGoAway(lastCallID: 4, close: false))
        #expect(Machine.DrainCause.unauthenticatedCalls(3).goAwayCode == .enhanceYourCalm)
        do {
            let step = machine.callEnded(code: .ok)
            #expect(step == .close)
        }
    }

    @Test func withoutAnUnauthenticatedLimitNoneCloses() {
        var machine = Self.active { $0.maxUnauthenticatedCalls = 0 }
        for id in 1...50 as ClosedRange<UInt64> {
            Self.open(id, on: &machine)
            do {
                let step = machine.callEnded(code: .unauthenticated)
                #expect(step == .startIdleClock)
            }
        }
    }

    // MARK: Pings

    @Test func pingsTooSoonAreStrikesAndOneOnTimeClearsThem() {
        var machine = Self.active { $0.pingPolicy.maximumStrikes = 2 }
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        do {
            let step = machine.pingReceived(at: start)
            #expect(step == .acknowledge)
        }
        do {
            let step = machine.pingReceived(at: start + .milliseconds(100))
            #expect(step == .acknowledge)
        }  // strike 1
        do {
            let step = machine.pingReceived(at: start + .milliseconds(200))
            #expect(step == .acknowledge)
        }  // strike 2
        do {
            let step = machine.pingReceived(at: start + .milliseconds(1300))
            #expect(step == .acknowledge)
        }  // on time: cleared
        do {
            let step = machine.pingReceived(at: start + .milliseconds(1400))
            #expect(step == .acknowledge)
        }  // strike 1
        do {
            let step = machine.pingReceived(at: start + .milliseconds(1500))
            #expect(step == .acknowledge)
        }  // strike 2
        do {
            let step = machine.pingReceived(at: start + .milliseconds(1600))
            #expect(
                step
                    == .close(
                        Machine.Closure(
                            code: .enhanceYourCalm, reason: .tooManyPings, message: "too many pings: at most one per 1s")))
        }
    }

    // MARK: Draining

    @Test func gracefulShutdownRefusesLaterCallsAndClosesWhenTheLastEnds() {
        var machine = Self.active()
        Self.open(1, on: &machine)
        Self.open(2, on: &machine)
        do {
            let step = machine.drainStarted(.shutdown)
            #expect(step == .sendGoAway(lastCallID: 2, close: false))
        }
        do {
            let step = machine.drainStarted(.shutdown)
            #expect(step == .none)
        }  // once
        do {
            let step = machine.requestReceived(callID: 3)
            #expect(step == nil)
        }
        #expect(
            machine.admitCall(3)
                == .reject(
                    .draining,
                    RPCError(
                        code: .unavailable, message: "the server is shutting down; retry the call on a new connection")))
        do {
            let step = machine.callEnded(code: .ok)
            #expect(step == .none)
        }
        do {
            let step = machine.callEnded(code: .ok)
            #expect(step == .close)
        }
    }

    @Test func gracefulShutdownOfAnIdleConnectionClosesAtOnce() {
        var machine = Self.active()
        do {
            let step = machine.drainStarted(.shutdown)
            #expect(step == .sendGoAway(lastCallID: 0, close: true))
        }
    }

    @Test func aClientGoAwayClosesOnceItsCallsAreAnswered() {
        var machine = Self.active()
        Self.open(1, on: &machine)
        do {
            let step = machine.peerGoAwayReceived()
            #expect(step == .none)
        }
        #expect(machine.drainingAfter == 1)
        // A REQUEST after its own GOAWAY is refused in words that do not blame a server shutdown.
        #expect(machine.requestReceived(callID: 3) == nil)
        #expect(
            machine.admitCall(3)
                == .reject(
                    .draining,
                    RPCError(code: .unavailable, message: "the client sent GOAWAY on this connection; start the call on a new connection")))
        do {
            let step = machine.callEnded(code: .ok)
            #expect(step == .close)
        }
    }

    @Test func aHalfCloseProbesWhileCallsRunAndClosesWhenNoneDo() {
        var running = Self.active()
        Self.open(1, on: &running)
        do {
            let step = running.inputClosed()
            #expect(step == .probe)
        }
        do {
            let step = running.callEnded(code: .ok)
            #expect(step == .close)
        }

        var idle = Self.active()
        do {
            let step = idle.inputClosed()
            #expect(step == .close)
        }

        var handshaking = Self.machine()
        do {
            let step = handshaking.inputClosed()
            #expect(step == .close)
        }  // nothing to answer yet
        _ = handshaking.close()
        do {
            let step = handshaking.inputClosed()
            #expect(step == .none)
        }
    }

    // MARK: Reading

    @Test func aReadAskedForWhileUnwritableIsHeldBackAndAskedForOnResuming() {
        var machine = Self.active()
        do {
            let step = machine.readRequested()
            #expect(step)
        }
        do {
            let step = machine.writabilityChanged(writable: false)
            #expect(step == .pause)
        }
        #expect(!machine.decodesFrames)
        do {
            let step = machine.writabilityChanged(writable: false)
            #expect(step == .none)
        }
        do {
            let step = machine.readRequested()
            #expect(!step)
        }
        do {
            let step = machine.writabilityChanged(writable: true)
            #expect(step == .resume(read: true))
        }
        #expect(machine.decodesFrames)
        do {
            let step = machine.writabilityChanged(writable: false)
            #expect(step == .pause)
        }
        do {
            let step = machine.writabilityChanged(writable: true)
            #expect(step == .resume(read: false))
        }  // no read was asked for meanwhile
    }

    @Test func readingResumesOnlyWhenBothMemoryAndOutboundAllowIt() {
        var machine = Self.active()
        do {
            let step = machine.memoryExhausted()
            #expect(step)
        }
        do {
            let step = machine.memoryExhausted()
            #expect(!step)
        }  // already paused: log and retry only once
        #expect(machine.decodesFrames)  // frames already read are still handled
        do {
            let step = machine.readRequested()
            #expect(!step)
        }
        do {
            let step = machine.writabilityChanged(writable: false)
            #expect(step == .pause)
        }
        do {
            let step = machine.memoryAvailable()
            #expect(!step)
        }  // still unwritable
        do {
            let step = machine.writabilityChanged(writable: true)
            #expect(step == .resume(read: true))
        }
    }

    @Test func nothingResumesOnAClosedConnection() {
        var machine = Self.active()
        do {
            let step = machine.writabilityChanged(writable: false)
            #expect(step == .pause)
        }
        do {
            let step = machine.readRequested()
            #expect(!step)
        }
        do {
            let step = machine.close()
            #expect(step)
        }
        do {
            let step = machine.close()
            #expect(!step)
        }
        do {
            let step = machine.writabilityChanged(writable: true)
            #expect(step == .none)
        }
        do {
            let step = machine.memoryAvailable()
            #expect(!step)
        }
        #expect(!machine.decodesFrames)
    }
}
