import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import Testing

/// Tests end by themselves at `expires_at`. The clock is a `ManualAccountClock`: nothing sleeps on it.
@Suite("Test expiry")
struct ExpiryTests {
    @Test(arguments: StoreKind.all) func aTestEndsAtItsExpiryAndTheExpiryIsRecordedAtThatTime(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let session = try await fixture.placeOnTest(hours: 1)
            #expect(session.expiresAtMs == AccountFixture.start + hourMs)

            // At expires_at the status is off test, before any expiry pass has run.
            fixture.clock.advance(byMs: hourMs)
            #expect(try await fixture.client.getTestStatus(GetTestStatusRequest(customerID: "cust-1")) == TestStatus(state: .offTest))
            #expect(try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1")).testStatus == TestStatus(state: .offTest))
            #expect(try await fixture.openSession()?.id == session.id, "not yet materialized")

            // The pass runs late; the expiry is still recorded at expires_at.
            fixture.clock.advance(byMs: 2 * hourMs)
            #expect(try await fixture.expiry.expireDue() == 1)
            #expect(try await fixture.expiry.expireDue() == 0, "a second pass finds nothing")
            #expect(try await fixture.openSession() == nil)
            let history = try await fixture.history()
            #expect(history.map(\.action) == [.placedOnTest, .expired])
            #expect(history.map(\.atMs) == [AccountFixture.start, AccountFixture.start + hourMs])
            #expect(history.allSatisfy { $0.sessionID == session.id && $0.expiresAtMs == session.expiresAtMs })
            #expect(history.last?.comment == "Test expired")

            // A new test may be placed after the expiry.
            let next = try await fixture.placeOnTest(hours: 1)
            #expect(next.id != session.id)
            #expect(next.state == .active)
            #expect(next.effectiveAtMs == AccountFixture.start + 3 * hourMs)
        }
    }

    @Test(arguments: StoreKind.all) func placingANewTestAfterExpiryWorksWithoutAnyPass(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let first = try await fixture.placeOnTest(hours: 1)
            fixture.clock.advance(byMs: hourMs + minuteMs)
            let second = try await fixture.placeOnTest(hours: 1)
            #expect(second.id != first.id)
            let history = try await fixture.history()
            #expect(history.map(\.action) == [.placedOnTest, .expired, .placedOnTest])
            #expect(history[1].atMs == first.expiresAtMs)
            #expect(try await fixture.expiry.expireDue() == 0)
        }
    }

    @Test(arguments: StoreKind.all) func aScheduledTestExpiresOnlyAfterItsOwnEnd(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let session = try await fixture.placeOnTest(hours: 1, effectiveAtMs: AccountFixture.start + hourMs)
            fixture.clock.advance(byMs: hourMs)
            #expect(try await fixture.expiry.expireDue() == 0, "it has just started")
            #expect(try await fixture.client.getTestStatus(GetTestStatusRequest(customerID: "cust-1")).onTest)
            fixture.clock.advance(byMs: hourMs)
            #expect(try await fixture.expiry.expireDue() == 1)
            #expect(try await fixture.history().last?.atMs == session.expiresAtMs)
        }
    }

    @Test(arguments: StoreKind.all) func oneExpiryPassEndsEveryDueTest(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            for (index, id) in ["a", "b", "c"].enumerated() {
                try await linkProvoCustomer(fixture, id)
                try await fixture.placeOnTest(id, hours: UInt32(index + 1))
            }
            fixture.clock.advance(byMs: 2 * hourMs)
            #expect(try await fixture.expiry.expireDue() == 2, "the 1 h and 2 h tests")
            #expect(try await fixture.openSession("c") != nil)
            #expect(try await fixture.history("b").last?.atMs == AccountFixture.start + 2 * hourMs)
        }
    }

    @Test(arguments: StoreKind.all) func theSchedulerLoopEndsATestWhenTheClockPassesItsExpiry(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let loop = Task { await fixture.expiry.run() }
            defer { loop.cancel() }
            let session = try await fixture.placeOnTest(hours: 1)
            fixture.clock.advance(byMs: 30 * minuteMs)
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await fixture.openSession()?.id == session.id, "not due yet")

            fixture.clock.advance(byMs: 30 * minuteMs + 5_000)
            let ended = try await eventually { try await fixture.openSession() == nil }
            #expect(ended, "the scheduler ended the test within 2 s of the clock passing its expiry")
            let history = try await fixture.history()
            #expect(history.map(\.action) == [.placedOnTest, .expired])
            #expect(history.last?.atMs == session.expiresAtMs)

            // It keeps running: a second test is ended too.
            let second = try await fixture.placeOnTest(hours: 0, minutes: 15)
            fixture.clock.advance(byMs: 15 * minuteMs)
            #expect(try await eventually { try await fixture.openSession() == nil })
            #expect(
                try await fixture.history().last
                    == TestHistoryEntry(
                        atMs: second.expiresAtMs, action: .expired, sessionID: second.id, category: second.category,
                        effectiveAtMs: second.effectiveAtMs, expiresAtMs: second.expiresAtMs, comment: "Test expired"))
            loop.cancel()
            await loop.value
        }
    }

    /// PlaceOnTest wakes the scheduler only for a session that expires before its planned wake-up: under load, a
    /// pass (a write of its own) per placed test was a third more writes for the writer.
    @Test func theSchedulerWakesOnlyForASessionThatExpiresBeforeItsPlannedWakeUp() async throws {
        try await withAccountService(on: .sqlite) { fixture in
            let store = try #require(fixture.store as? SQLiteAccountStore)
            try await linkProvoCustomer(fixture)
            let linked = store.writeStatistics.writes
            let loop = Task { await fixture.expiry.run() }
            defer { loop.cancel() }
            // The first pass (one write) and its read of the next expiry; then it sleeps up to 60 s. A test placed
            // while that read runs changes nothing either: the pass plans with its expiry.
            #expect(try await eventually { store.writeStatistics.writes == linked + 1 })
            let settled = store.writeStatistics.writes

            _ = try await fixture.placeOnTest(hours: 1)
            try await Task.sleep(for: .milliseconds(200))
            #expect(store.writeStatistics.writes == settled + 1, "the test's own write, and no pass: it expires after the wake-up")

            await fixture.expiry.wake(expiringAtMs: fixture.now + 1_000)
            #expect(try await eventually { store.writeStatistics.writes == settled + 2 }, "a pass: it expires before the wake-up")
            loop.cancel()
            await loop.value
        }
    }

    /// The system clock's sleep saturates: a wake-up time far in the past returns at once (it trapped on the
    /// overflow of `ms - now`), and one far in the future sleeps until cancelled.
    @Test func theSystemClockSleepsToAnyTimeWithoutOverflow() async throws {
        let clock = SystemAccountClock()
        try await clock.sleep(untilMs: .min)
        let far = Task { try await clock.sleep(untilMs: .max) }
        try await Task.sleep(for: .milliseconds(20))
        far.cancel()
        await #expect(throws: CancellationError.self) { try await far.value }
    }
}
