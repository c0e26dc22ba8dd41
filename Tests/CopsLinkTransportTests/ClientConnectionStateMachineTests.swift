import CopsLinkCore
import CopsLinkMessages
import Testing

@testable import CopsLinkTransport

/// The client connection's rules, event by event, without a channel. (`#expect` cannot call a mutating method on a
/// captured variable, hence the `let step = ...` before each expectation on an event.)
@Suite("Client connection state machine")
struct ClientConnectionStateMachineTests {
    private typealias Machine = ClientConnectionStateMachine

    /// A ready machine whose server allows `slots` calls at once.
    private static func ready(slots: UInt32 = 2, queue: Int = 2) -> Machine {
        var machine = Machine(maxQueuedCalls: queue)
        let step = machine.settingsReceived(SettingsHeader(maxConcurrentCalls: slots))
        #expect(step == .acknowledge(first: true))
        return machine
    }

    @Test func callsWaitForTheServersSettings() {
        var machine = Machine(maxQueuedCalls: 4)
        let early = machine.startRequested()
        #expect(early == .fail(RPCError(code: .unavailable, message: "the connection is closed; retry the call")))
        #expect(!machine.sendsKeepalive)
        let first = machine.settingsReceived(SettingsHeader())
        #expect(first == .acknowledge(first: true))
        #expect(machine.sendsKeepalive)
        let again = machine.settingsReceived(SettingsHeader())
        #expect(again == .acknowledge(first: false))
    }

    @Test func callIDsIncreaseFromOneAndFramesForLaterIDsNameUnopenedCalls() {
        var machine = Self.ready(slots: 10)
        for expected in 1...3 as ClosedRange<UInt64> {
            let step = machine.startRequested()
            #expect(step == .start(callID: expected))
        }
        #expect(!machine.neverOpened(3))
        #expect(machine.neverOpened(4))
    }

    @Test func beyondTheServersSlotsCallsQueueInOrderUpToTheBound() {
        var machine = Self.ready(slots: 1, queue: 2)
        let first = machine.startRequested()
        #expect(first == .start(callID: 1))
        let second = machine.startRequested(), third = machine.startRequested()
        #expect(second == .queue && third == .queue)
        let fourth = machine.startRequested()
        #expect(
            fourth
                == .fail(
                    RPCError(
                        code: .resourceExhausted,
                        message: "client call queue is full: 2 calls are waiting for one of the server's 1 call slots")))
        let blocked = machine.nextQueuedCallStarts()
        #expect(blocked == nil)  // the slot is taken
        machine.activeCallEnded()
        let promoted = machine.nextQueuedCallStarts()
        #expect(promoted == 2)
        #expect(machine.queuedCalls == 1 && machine.activeCalls == 1)
    }

    @Test func aLaterSettingsWithMoreSlotsLetsQueuedCallsStart() {
        var machine = Self.ready(slots: 1, queue: 5)
        _ = machine.startRequested()
        _ = machine.startRequested()
        _ = machine.startRequested()
        let more = machine.settingsReceived(SettingsHeader(maxConcurrentCalls: 3))
        #expect(more == .acknowledge(first: false))
        let a = machine.nextQueuedCallStarts(), b = machine.nextQueuedCallStarts(), c = machine.nextQueuedCallStarts()
        #expect(a == 2 && b == 3 && c == nil)
    }

    @Test func settingsBelowTheMinimumsAreAViolation() {
        var machine = Machine(maxQueuedCalls: 1)
        let step = machine.settingsReceived(SettingsHeader(maxFrameSize: 100))
        #expect(step == .violation("the server broke the protocol: SETTINGS max_frame_size 100 is below the minimum of 16384"))
        #expect(machine.phase == .connecting)
    }

    @Test func afterGoAwayNoCallStartsAndTheConnectionClosesWhenTheKeptCallsEnd() {
        var machine = Self.ready(slots: 2)
        _ = machine.startRequested()
        _ = machine.startRequested()
        let wasConnecting = machine.goAwayReceived()
        #expect(!wasConnecting)
        let refused = machine.startRequested()
        #expect(refused == .fail(RPCError(code: .unavailable, message: "the connection is draining after GOAWAY; retry the call")))
        #expect(machine.sendsKeepalive)
        #expect(machine.closedMessage == "the server closed the connection after GOAWAY")
        machine.activeCallEnded()
        let notYet = machine.closesWhenDrained()
        #expect(!notYet)
        machine.activeCallEnded()
        let now = machine.closesWhenDrained()
        #expect(now)
        #expect(machine.phase == .closed)
    }

    @Test func aGoAwayBeforeTheSettingsFailsTheConnectionAttempt() {
        var machine = Machine(maxQueuedCalls: 1)
        let wasConnecting = machine.goAwayReceived()
        #expect(wasConnecting)
        let closes = machine.closesWhenDrained()
        #expect(closes)
    }

    @Test func failingForgetsEveryCall() {
        var machine = Self.ready(slots: 1, queue: 3)
        _ = machine.startRequested()
        _ = machine.startRequested()
        let wasConnecting = machine.failed()
        #expect(!wasConnecting)
        #expect(machine.activeCalls == 0 && machine.queuedCalls == 0)
        #expect(machine.closedMessage == "the connection to the server closed")
        let late = machine.startRequested()
        #expect(late == .fail(RPCError(code: .unavailable, message: "the connection is closed; retry the call")))
    }

    /// A task may pick a connection just before it fails; its call then says why the connection failed.
    @Test func aCallAfterAFailureNamesItsCause() {
        var machine = Self.ready(slots: 1, queue: 3)
        _ = machine.failed(because: "the server did not answer a keepalive PING")
        _ = machine.failed(because: "the connection to the server closed")
        let late = machine.startRequested()
        #expect(
            late
                == .fail(
                    RPCError(
                        code: .unavailable,
                        message: "the connection is closed (the server did not answer a keepalive PING); retry the call")))
    }
}
