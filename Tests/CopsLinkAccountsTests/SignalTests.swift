import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import CopsLinkTestSupport
import CopsLinkTransport
import Testing

/// ReportSignals with Contact ID messages. The customer is linked as account "1234", since a Contact ID message
/// carries a four-digit account.
@Suite("ReportSignals")
struct SignalTests {
    let t0 = AccountFixture.start

    /// Links cust-1 as account 1234 with central-station zones 001 (described differently from its equipment)
    /// and 010 (no equipment).
    func linkContactIDCustomer(_ fixture: AccountFixture) async throws {
        try await linkProvoCustomer(fixture, accountNumber: "1234")
        _ = try await fixture.client.setCentralStationZones(
            SetCentralStationZonesRequest(
                customerID: "cust-1",
                zones: [
                    Zone(zoneNumber: "001", description: "Front entry", eventType: .burglary),
                    Zone(zoneNumber: "010", description: "Panic button", eventType: .panic)
                ]))
    }

    @Test(arguments: StoreKind.all) func signalsOffTestAreStoredAsHistoryNotAsTestResults(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            let response = try await fixture.report([
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0),
                contactIDSignal(event: "401", zoneOrUser: "005", atMs: t0 + 1000)
            ])
            #expect(response == ReportSignalsResponse(received: 2, storedAsHistory: 2))
            // A later test does not claim them.
            try await fixture.placeOnTest()
            fixture.clock.advance(byMs: minuteMs)
            #expect(try await fixture.results() == [])
        }
    }

    @Test(arguments: StoreKind.all) func signalHistoryIsReadByRangeAndPagedApartFromTestResults(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            let before = (0..<5).map { contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 - 5000 + Int64($0) * 1000) }
            _ = try await fixture.report(before)
            try await fixture.placeOnTest(hours: 1)
            let onTest = try await fixture.report([contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + 1000)])
            #expect(onTest.testResults == 1)
            fixture.clock.advance(byMs: hourMs)
            let pages = try await fixture.testDataPages(.signals, fromMs: t0 - dayMs, toMs: fixture.now, pageSize: 2)
            #expect(pages.map(\.signals.count) == [2, 2, 1], "paged, oldest first")
            #expect(pages.allSatisfy { $0.results.isEmpty && $0.history.isEmpty })
            let signals = pages.flatMap(\.signals)
            #expect(signals.map(\.receivedAtMs) == before.map(\.receivedAtMs), "the test result is not signal history")
            #expect(signals.allSatisfy { $0.sessionID.isEmpty && $0.zoneDescription == "Front entry" && $0.accountNumber == "1234" })
            // A range picks only what lies inside it.
            let some = try await fixture.testDataPages(.signals, fromMs: t0 - 4000, toMs: t0 - 3000).flatMap(\.signals)
            #expect(some.map(\.receivedAtMs) == [t0 - 4000, t0 - 3000])
            #expect(try await fixture.results().count == 1)
        }
    }

    @Test(arguments: StoreKind.all) func signalsOnTestBecomeTestResults(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            let session = try await fixture.placeOnTest(hours: 1)
            let at = t0 + minuteMs
            let signals = [
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0),  // at the effective time
                contactIDSignal(qualifier: 3, event: "131", zoneOrUser: "002", atMs: at),
                contactIDSignal(event: "120", partition: 2, zoneOrUser: "010", atMs: at + 1),
                contactIDSignal(event: "401", zoneOrUser: "005", atMs: at + 2),  // a user event
                contactIDSignal(event: "999", zoneOrUser: "003", atMs: at + 3),  // not in the reference list
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 - 1),  // before the test
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: session.expiresAtMs)  // at its expiry
            ]
            // Reported when the test ends, so that none is dated ahead of the server's clock.
            fixture.clock.set(nowMs: session.expiresAtMs)
            let response = try await fixture.report(signals)
            #expect(response == ReportSignalsResponse(received: 7, testResults: 5, storedAsHistory: 2))
            fixture.clock.set(nowMs: t0 + 2 * hourMs)
            func result(
                _ index: Int, zone: String = "", zoneDescription: String = "", event: String, qualifier: UInt32 = 1,
                description: String, user: String = "", partition: UInt32 = 1
            ) -> TestResult {
                TestResult(
                    receivedAtMs: signals[index].receivedAtMs, accountNumber: "1234", zoneNumber: zone, zoneDescription: zoneDescription,
                    eventCode: event, qualifier: qualifier, eventDescription: description, userNumber: user, partition: partition,
                    rawMessage: signals[index].contactID, sessionID: session.id)
            }
            let results = try await fixture.results()
            #expect(
                results == [
                    result(0, zone: "001", zoneDescription: "Front entry", event: "130", description: "Burglary"),
                    result(1, zone: "002", zoneDescription: "Back door", event: "131", qualifier: 3, description: "Perimeter"),
                    result(2, zone: "010", zoneDescription: "Panic button", event: "120", description: "Panic", partition: 2),
                    result(3, event: "401", description: "Open/close by user", user: "005"),
                    result(4, zone: "003", zoneDescription: "Motion", event: "999", description: "Event 999")
                ])
        }
    }

    /// Runs a test of `scope` over `zones` and reports one signal from each of zones 001-003 and a user event;
    /// returns the zones (or "user") that became test results.
    func scopedResults(_ scope: TestScope, _ zones: [String]) async throws -> (ReportSignalsResponse, [String]) {
        try await withAccountService { fixture in
            try await linkContactIDCustomer(fixture)
            try await fixture.placeOnTest(scope: scope, zones: zones)
            let response = try await fixture.report([
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + 1),
                contactIDSignal(event: "130", zoneOrUser: "002", atMs: t0 + 2),
                contactIDSignal(event: "132", zoneOrUser: "003", atMs: t0 + 3),
                contactIDSignal(event: "401", zoneOrUser: "007", atMs: t0 + 4)
            ])
            fixture.clock.advance(byMs: minuteMs)
            return (response, try await fixture.results().map { $0.zoneNumber.isEmpty ? "user" : $0.zoneNumber })
        }
    }

    @Test func onlyListedExcludesOtherZonesAndUserEvents() async throws {
        let (response, covered) = try await scopedResults(.onlyListed, ["001", "003"])
        #expect(covered == ["001", "003"])
        #expect(response == ReportSignalsResponse(received: 4, testResults: 2, storedAsHistory: 2))
    }

    @Test func allExceptListedExcludesTheListedZones() async throws {
        let (response, covered) = try await scopedResults(.allExceptListed, ["001", "003"])
        #expect(covered == ["002", "user"])
        #expect(response == ReportSignalsResponse(received: 4, testResults: 2, storedAsHistory: 2))
    }

    @Test func allZonesCoversEverything() async throws {
        let (_, covered) = try await scopedResults(.allZones, [])
        #expect(covered == ["001", "002", "003", "user"])
    }

    @Test(arguments: StoreKind.all) func unusableSignalsAreRejectedAndTheRestStored(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            try await fixture.placeOnTest()
            let good = ContactIDMessage.make(account: "1234", qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "001")
            let badChecksum = String(good.dropLast()) + (good.last == "1" ? "2" : "1")
            let now = fixture.clock.nowMs()
            let tooOld = now - 401 * 86_400_000
            let spaced =
                "1234 18 1 131 01 002 "
                + String(ContactIDMessage.make(account: "1234", qualifier: 1, eventCode: "131", partition: 1, zoneOrUser: "002").last!)
            let signals = [
                Signal(receivedAtMs: t0 + 1, contactID: good),
                Signal(receivedAtMs: t0 + 2, contactID: badChecksum),
                Signal(receivedAtMs: t0 + 3, contactID: String(good.dropLast())),
                Signal(
                    receivedAtMs: t0 + 4,
                    contactID: ContactIDMessage.make(account: "1234", qualifier: 2, eventCode: "130", partition: 1, zoneOrUser: "001")),
                Signal(
                    receivedAtMs: t0 + 5,
                    contactID: ContactIDMessage.make(account: "5678", qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "001")),
                Signal(receivedAtMs: t0 + 6, contactID: spaced),
                Signal(receivedAtMs: t0 + 7, contactID: "1234181X30010010"),
                Signal(accountNumber: "1234", receivedAtMs: t0 + 8, qualifier: 0, eventCode: "130", zoneOrUser: "001"),
                Signal(accountNumber: "1234", receivedAtMs: t0 + 9, qualifier: 1, eventCode: "13", zoneOrUser: "001"),
                Signal(receivedAtMs: t0 + 10, qualifier: 1, eventCode: "130", zoneOrUser: "001"),
                Signal(accountNumber: "1234", receivedAtMs: t0 + 11, qualifier: 1, eventCode: "130", partition: 99_999, zoneOrUser: "001"),
                Signal(accountNumber: "1234", receivedAtMs: t0 + 12, qualifier: 1, eventCode: "١٣٠", zoneOrUser: "001"),
                Signal(accountNumber: "1234", receivedAtMs: t0 + 13),
                Signal(receivedAtMs: t0 + 14, contactID: good, eventCode: "401"),
                Signal(receivedAtMs: t0 + 15, contactID: good, qualifier: 1, eventCode: "130", partition: 1, zoneOrUser: "001"),
                Signal(receivedAtMs: t0 + 16, contactID: good, zoneOrUser: "002"),
                Signal(receivedAtMs: tooOld, contactID: good)
            ]
            let response = try await fixture.report(signals)
            #expect(response.received == 17)
            #expect(response.testResults == 3)
            #expect(response.storedAsHistory == 0)
            let rejected = response.rejected.sorted { $0.index < $1.index }
            #expect(
                rejected == [
                    SignalRejection(index: 1, reason: "Contact ID checksum does not match"),
                    SignalRejection(index: 2, reason: "Contact ID message must have 16 characters (ACCT MT Q EEE GG CCC S), got 15"),
                    SignalRejection(index: 3, reason: "Contact ID qualifier must be 1, 3 or 6, got 2"),
                    SignalRejection(index: 4, reason: "unknown account number 5678"),
                    SignalRejection(index: 6, reason: "Contact ID message contains 'X', which is not a digit or B-F"),
                    SignalRejection(index: 7, reason: "qualifier must be 1, 3 or 6, got 0"),
                    SignalRejection(index: 8, reason: "event code must be three digits, got '13'"),
                    SignalRejection(index: 9, reason: "the signal names no account"),
                    SignalRejection(index: 10, reason: "partition must be 0 to 99, got 99999"),
                    SignalRejection(index: 11, reason: "event code must be three digits, got '١٣٠'"),
                    SignalRejection(index: 12, reason: "the signal has neither a contact_id nor the parsed fields (qualifier, event_code)"),
                    SignalRejection(
                        index: 13,
                        reason:
                            "event_code '401' disagrees with the contact_id's '130'; send either the contact_id or the parsed fields, or both alike"
                    ),
                    SignalRejection(
                        index: 15,
                        reason:
                            "zone_or_user '002' disagrees with the contact_id's '001'; send either the contact_id or the parsed fields, or both alike"
                    ),
                    SignalRejection(
                        index: 16,
                        reason:
                            "received_at_ms \(tooOld) of signal 16 is older than the signal retention of 400 days (\(now - 400 * 86_400_000) at the server's clock); it would be deleted at once"
                    )
                ])
            fixture.clock.advance(byMs: minuteMs)
            let results = try await fixture.results()
            #expect(results.map(\.receivedAtMs) == [t0 + 1, t0 + 6, t0 + 15], "the good signals of the same stream are stored")
            #expect(results.map(\.rawMessage) == [good, spaced, good])
            #expect(results.map(\.zoneNumber) == ["001", "002", "001"])
        }
    }

    /// A call's batch counts in the held-request budget: when the next signal would pass it, the batch is written at
    /// once (so that many open streams, each short of a full batch, hold no more than the budget), and nothing is
    /// lost or counted twice.
    /// A signal whose bytes do not decode as a valid `Signal` (here a string with U+0000, which protobuf-c would cut)
    /// is rejected like any unusable signal and the stream goes on. It used to fail the whole stream there: the
    /// batch not yet written (signals 256 to 299 here) was lost with every count, after the first batch was stored.
    @Test(arguments: StoreKind.all) func aSignalThatDoesNotDecodeIsRejectedAndTheStreamGoesOn(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            let good = (0..<311).map { index in
                EncodedMessage(contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + Int64(index)))
            }
            // Signal 300: account_number (field 3) "12\u{0}4", and its contact_id names no account to fall back on.
            var bad = good
            bad[300] = EncodedMessage<Signal>(bytes: [0x1A, 0x04, 0x31, 0x32, 0x00, 0x34] + good[300].bytes)
            let response = try await fixture.client.client.clientStreaming(
                AccountService.Method.reportSignals, requests: Messages(bad), as: ReportSignalsResponse.self
            ).message
            #expect(response.received == 311 && response.rejectedCount == 1, "\(response)")
            #expect(response.storedAsHistory + response.testResults == 310)
            #expect(response.rejected.map(\.index) == [300])
            #expect(
                response.rejected.first?.reason
                    == "request message is not a valid copslink.v1.Signal: account_number contains U+0000 (at byte 2 of its value), "
                    + "which this server's protobuf strings cannot hold")
        }
    }

    @Test func aBatchIsWrittenEarlyWhenTheHeldRequestBudgetHasNoRoom() async throws {
        var server = ServerConfiguration()
        server.maxHeldRequestBytes = 2_000  // about 7 signals of this size; the default batch is 256
        try await withAccountService(server: server) { fixture in
            try await linkContactIDCustomer(fixture)
            let sqlite = try #require(fixture.sqlite)
            let before = sqlite.writeStatistics
            let response = try await fixture.report(
                (0..<20).map { contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + Int64($0)) })
            #expect(response == ReportSignalsResponse(received: 20, storedAsHistory: 20))
            #expect(sqlite.writeStatistics.transactions - before.transactions >= 3, "written in batches of at most 7")
        }
    }

    /// Rejections found while storing (unknown account) keep their stream index across batches; the listed
    /// rejections are capped.
    @Test(arguments: StoreKind.all) func rejectionIndicesSurviveBatchingAndTheListIsCapped(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.signalBatchSize = 2
        configuration.maximumListedRejections = 3
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkContactIDCustomer(fixture)
            let signals = (0..<9).map { index in
                contactIDSignal(account: index % 3 == 1 ? "5678" : "1234", event: "130", zoneOrUser: "001", atMs: t0 + Int64(index))
            }
            let response = try await fixture.report(signals)
            #expect(response.received == 9)
            #expect(response.storedAsHistory == 6)
            #expect(response.rejected.map(\.index) == [1, 4, 7])
            #expect(response.rejected.allSatisfy { $0.reason == "unknown account number 5678" })

            let more = try await fixture.report((0..<5).map { _ in Signal(contactID: "garbage") })
            #expect(more.received == 5)
            #expect(more.rejected.map(\.index) == [0, 1, 2], "at most 3 listed")
        }
    }

    /// A batch's unknown account is found when the batch is stored, after a later signal failed to parse: the list is
    /// still in index order, and when capped it keeps the lowest indices.
    @Test(arguments: StoreKind.all) func rejectionsAreListedInIndexOrder(_ kind: StoreKind) async throws {
        var configuration = AccountServiceConfiguration()
        configuration.signalBatchSize = 3
        configuration.maximumListedRejections = 2
        try await withAccountService(on: kind, configuration: configuration) { fixture in
            try await linkContactIDCustomer(fixture)
            let known = contactIDSignal(account: "1234", event: "130", zoneOrUser: "001", atMs: t0)
            let unknown = contactIDSignal(account: "5678", event: "130", zoneOrUser: "001", atMs: t0)
            // Batch [0, 1, 3] is stored when signal 3 arrives, after signal 2 (garbage) was rejected.
            let response = try await fixture.report([known, unknown, Signal(contactID: "garbage"), unknown, Signal(contactID: "garbage")])
            #expect(response.rejectedCount == 4)
            #expect(response.rejected.map(\.index) == [1, 2], "the two lowest, in order")

            // The list is full (1, 2) when the batch's unknown account (0) is found: it goes first, 2 goes out.
            let late = try await fixture.report([unknown, Signal(contactID: "garbage"), Signal(contactID: "garbage"), known, known])
            #expect(late.rejectedCount == 3)
            #expect(late.rejected.map(\.index) == [0, 1])
        }
    }

    @Test(arguments: StoreKind.all) func theParsedFieldsFormWorks(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            let session = try await fixture.placeOnTest()
            let response = try await fixture.report([
                Signal(accountNumber: "1234", receivedAtMs: t0 + 1, qualifier: 3, eventCode: "110", partition: 2, zoneOrUser: "004"),
                Signal(accountNumber: "1234", receivedAtMs: t0 + 2, qualifier: 1, eventCode: "407", partition: 1, zoneOrUser: "012")
            ])
            #expect(response == ReportSignalsResponse(received: 2, testResults: 2))
            fixture.clock.advance(byMs: minuteMs)
            #expect(
                try await fixture.results() == [
                    TestResult(
                        receivedAtMs: t0 + 1, accountNumber: "1234", zoneNumber: "004", zoneDescription: "Smoke", eventCode: "110",
                        qualifier: 3,
                        eventDescription: "Fire", partition: 2, sessionID: session.id),
                    TestResult(
                        receivedAtMs: t0 + 2, accountNumber: "1234", eventCode: "407", qualifier: 1, eventDescription: "Remote arm/disarm",
                        userNumber: "012", partition: 1, sessionID: session.id)
                ])
        }
    }

    @Test(arguments: StoreKind.all) func aSignalWithoutReceivedTimeIsStampedWithTheServerClock(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            try await fixture.placeOnTest()
            fixture.clock.advance(byMs: 5 * minuteMs)
            _ = try await fixture.report([contactIDSignal(event: "130", zoneOrUser: "001", atMs: 0)])
            #expect(try await fixture.results().map(\.receivedAtMs) == [t0 + 5 * minuteMs])
        }
    }

    @Test(arguments: StoreKind.all) func aReceivedTimeOutOfRangeIsRejectedNamingTheField(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            let response = try await fixture.client.reportSignals(
                Messages(
                    [Int64.min, -1, .max, AccountFixture.start].map {
                        Signal(accountNumber: "1234", receivedAtMs: $0, qualifier: 1, eventCode: "130", zoneOrUser: "001")
                    }))
            #expect(response.received == 4)
            #expect(response.storedAsHistory == 1)
            #expect(
                response.rejected.map(\.reason)
                    == [Int64.min, -1, .max].map {
                        "received_at_ms \($0) is out of range (0 to 253402300799999, Unix epoch milliseconds)."
                    })
        }
    }

    /// A signal dated more than `signalFutureSkewMs` (5 minutes) ahead of the server's clock is rejected like any
    /// unusable signal: retention counts from the received time, so it would be kept until then (up to year 9999).
    /// Exactly the skew ahead is accepted; a millisecond more is not.
    @Test(arguments: StoreKind.all) func aSignalDatedAheadOfTheServerClockBeyondTheSkewIsRejected(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkContactIDCustomer(fixture)
            let skew = AccountServiceConfiguration().signalFutureSkewMs
            #expect(skew == 5 * minuteMs)
            let lastMillisecondOf9999: Int64 = 253_402_300_799_999
            let times = [t0 + skew, t0 + skew + 1, t0, t0 + dayMs, lastMillisecondOf9999]
            let response = try await fixture.report(times.map { contactIDSignal(event: "130", zoneOrUser: "001", atMs: $0) })
            func reason(_ index: Int) -> String {
                "received_at_ms \(times[index]) of signal \(index) is \(times[index] - t0) ms ahead of the server's clock (\(t0)); "
                    + "at most 300000 ms ahead is allowed (clock skew)"
            }
            #expect(response.received == 5)
            #expect(response.storedAsHistory == 2)
            #expect(response.rejectedCount == 3)
            #expect(response.rejected == [1, 3, 4].map { SignalRejection(index: UInt32($0), reason: reason($0)) })
            #expect(reason(1).hasPrefix("received_at_ms \(t0 + 300_001) of signal 1 is 300001 ms ahead"))

            fixture.clock.advance(byMs: skew)
            let stored = try await fixture.testDataPages(.signals, fromMs: t0 - dayMs, toMs: fixture.now).flatMap(\.signals)
            #expect(stored.map(\.receivedAtMs) == [t0, t0 + skew], "the signals within the skew are stored at their own time")
        }
    }

    /// The allowed skew is configurable, and it is measured from the server's clock when the signal arrives: a time
    /// refused now is accepted once the clock has caught up with it.
    @Test func theSkewIsConfigurableAndMeasuredFromTheClockOnArrival() async throws {
        var configuration = AccountServiceConfiguration()
        configuration.signalFutureSkewMs = 0
        try await withAccountService(configuration: configuration) { fixture in
            try await linkContactIDCustomer(fixture)
            let early = try await fixture.report([
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0),
                contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + 1)
            ])
            #expect(early.storedAsHistory == 1)
            #expect(
                early.rejected == [
                    SignalRejection(
                        index: 1,
                        reason:
                            "received_at_ms \(t0 + 1) of signal 1 is 1 ms ahead of the server's clock (\(t0)); at most 0 ms ahead is allowed (clock skew)"
                    )
                ])
            fixture.clock.advance(byMs: 1)
            let caughtUp = try await fixture.report([contactIDSignal(event: "130", zoneOrUser: "001", atMs: t0 + 1)])
            #expect(caughtUp == ReportSignalsResponse(received: 1, storedAsHistory: 1))
        }
    }

    @Test(arguments: StoreKind.all) func signalsOfAnUnlinkedAccountAreRejected(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture, accountNumber: "1234")
            _ = try await fixture.client.unlinkAccount(UnlinkAccountRequest(customerID: "cust-1"))
            let response = try await fixture.client.reportSignals(
                Messages([
                    Signal(accountNumber: "1234", qualifier: 1, eventCode: "130", zoneOrUser: "001")
                ]))
            #expect(response.received == 1)
            #expect(response.rejected == [SignalRejection(index: 0, reason: "account 1234 is unlinked")])
        }
    }
}
