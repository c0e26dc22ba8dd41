import NIOCore
import NIOEmbedded
import Testing

@testable import CopsLinkTransport

/// `RestartableTimeout`: one timer per connection however often the clock starts, and the check closure built only
/// when a timer is scheduled (a connection answering calls one at a time starts the clock after every call).
@Suite struct RestartableTimeoutTests {
    @Test func startingAgainWhileATimerIsPendingBuildsNoCheckAndSchedulesNothing() {
        let loop = EmbeddedEventLoop()
        var timeout = RestartableTimeout(.seconds(10))
        var built = 0
        var fired = 0
        func check() -> @Sendable () -> Void {
            built += 1
            return {}
        }
        timeout.start(on: loop, check())
        for _ in 0..<5 {
            loop.advanceTime(by: .seconds(1))
            timeout.start(on: loop, check())
        }
        #expect(built == 1)
        // The one timer fires at the first start's due time, finds the clock moved on and schedules itself again.
        loop.advanceTime(by: .seconds(5))
        let firstFired = timeout.fired(on: loop, check())
        #expect(!firstFired)
        #expect(built == 2)
        loop.advanceTime(by: .seconds(5))
        if timeout.fired(on: loop, {}) { fired += 1 }
        #expect(fired == 1)
    }

    @Test func aStoppedClockDoesNotFire() {
        let loop = EmbeddedEventLoop()
        var timeout = RestartableTimeout(.seconds(10))
        timeout.start(on: loop, {})
        timeout.stop()
        loop.advanceTime(by: .seconds(11))
        let fired = timeout.fired(on: loop, {})
        #expect(!fired)
    }
}
