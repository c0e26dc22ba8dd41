import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Foundation

struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Place an account on or off test, see its test status, read test history, results and signal history.",
        subcommands: [TestCategories.self, TestOn.self, TestOff.self, TestStatusCommand.self, TestData.self])
}

struct TestCategories: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "categories",
        abstract: "Lists the test categories and their default durations.",
        discussion: """
            Examples:
              copslink test categories
              copslink test categories --json | jq -r '.categories[].id'
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions

    func run() async throws {
        try await Session.run(global) { session in
            let response = try await session.accounts.listTestCategories(options: session.options)
            var table = Table("ID", "DESCRIPTION", "DEFAULT DURATION")
            for category in response.categories {
                table.add(category.id, category.description, Format.duration(ms: Int64(category.defaultDurationMinutes) * 60_000))
            }
            try session.emit(response, text: table.render())
        }
    }
}

struct TestOn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "on",
        abstract: "Places the account on test: signals in scope become test results until it ends or expires.",
        discussion: """
            Without --hours and --minutes the category's default duration is used. --scope: all (every zone, the \
            default), only (only the --zone zones; the default when --zone is given), except (every zone but the \
            --zone zones). --effective schedules the test for later (ISO 8601, UTC unless an offset is given). \
            A second `test on` while a test is open fails with FAILED_PRECONDITION (exit 9).

            Examples:
              copslink test on demo-1 --category service --hours 2 \\
                --comment "Replacing the panel"
              copslink test on demo-1 --category service --hours 1 --minutes 30 \\
                --zone 001 --zone 002
              copslink test on demo-3 --category fire-inspection \\
                --scope except --zone 005 \\
                --effective "$(date -u -d 'tomorrow 08:00' +%FT%TZ)" \\
                --user-id tech-7 --user-name "Demo Technician"
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @Option(help: "Test category id (see `copslink test categories`), e.g. service.") var category: String
    // `.unconditional` so that `--hours -1` reaches `validate()` (which says it is negative) instead of being
    // taken for an option and reported as a missing value.
    @Option(parsing: .unconditional, help: "Duration, hours part.") var hours: Int64?
    @Option(parsing: .unconditional, help: "Duration, minutes part (0-59).") var minutes: Int64?
    @Option(help: "Comment shown with the test.") var comment = ""
    @Option(help: ArgumentHelp("all, only or except.", valueName: "scope")) var scope: String?
    @Option(help: ArgumentHelp("Zone for --scope only/except; repeatable.", valueName: "zone")) var zone: [String] = []
    @Option(help: ArgumentHelp("When the test starts (ISO 8601, UTC unless an offset is given). Default: now.", valueName: "time"))
    var effective: String?
    @Option(help: "Id of the user placing the test.") var userId = ""
    @Option(help: "Name of the user placing the test. Default (without --user-id too): the API key's name.") var userName = ""
    @Option(help: ArgumentHelp("Responding party who authorized the test.", valueName: "party-id")) var authorizedBy = ""
    @Option(help: ArgumentHelp("How the authorizing caller was verified, e.g. passcode.", valueName: "how")) var verifiedBy = ""

    func validate() throws {
        _ = try parsedScope()
        _ = try Self.durationPart(hours, option: "--hours")
        _ = try Self.durationPart(minutes, option: "--minutes")
        // The API reads a zero duration as "the category's default"; typed out, a zero is a mistake, not a request for it.
        if hours != nil || minutes != nil, (hours ?? 0) == 0, (minutes ?? 0) == 0 {
            throw ValidationError("A test lasts at least a minute; leave --hours and --minutes out for the category's default duration.")
        }
        if let effective { _ = try TimeArgument.parse(effective, option: "--effective") }
        guard verifiedBy.isEmpty || !authorizedBy.isEmpty else {
            throw ValidationError("--verified-by needs --authorized-by: the responding party whose authorization was verified.")
        }
    }

    /// A duration part as the request's unsigned field; a negative or oversized value is a usage error saying so.
    static func durationPart(_ value: Int64?, option: String) throws(ValidationError) -> UInt32 {
        guard let value else { return 0 }
        guard value >= 0 else { throw ValidationError("\(option) \(value) is negative.") }
        guard let part = UInt32(exactly: value) else { throw ValidationError("\(option) \(value) is too large.") }
        return part
    }

    func parsedScope() throws(ValidationError) -> TestScope {
        guard let scope else { return zone.isEmpty ? .allZones : .onlyListed }
        switch scope.lowercased() {
        case "all", "all-zones", "all_zones": return .allZones
        case "only", "only-listed", "only_listed": return .onlyListed
        case "except", "all-except-listed", "all_except_listed": return .allExceptListed
        default: throw ValidationError("--scope '\(scope)' must be all, only or except.")
        }
    }

    func run() async throws {
        let scope = try parsedScope()
        let effectiveMs =
            try effective.map { (text) throws(ValidationError) in try TimeArgument.parse(text, option: "--effective").ms } ?? 0
        try await Session.run(global) { session in
            // Neither given: 0 and 0, which the server takes as the category's default duration.
            let hours = try Self.durationPart(self.hours, option: "--hours")
            let minutes = try Self.durationPart(self.minutes, option: "--minutes")
            let placedBy = userId.isEmpty && userName.isEmpty ? nil : UserRef(id: userId, name: userName)
            let authorization =
                authorizedBy.isEmpty && verifiedBy.isEmpty
                ? nil : TestAuthorization(respondingPartyID: authorizedBy, verifiedBy: verifiedBy)
            let answer = try await session.mutate(
                AccountService.Method.placeOnTest,
                PlaceOnTestRequest(
                    requestID: session.requestID, customerID: customer, categoryID: category, durationHours: hours,
                    durationMinutes: minutes, effectiveAtMs: effectiveMs, scope: scope, zoneNumbers: zone, comment: comment,
                    placedBy: placedBy, authorizedBy: authorization),
                as: PlaceOnTestResponse.self)
            let response = answer.message
            let headline = response.session?.state == .scheduled ? "\(customer) is scheduled to go on test." : "\(customer) is on test."
            try session.emit(
                answer,
                text: headline + (response.session.map { "\n\n" + TestText.session($0) } ?? ""))
        }
    }
}

struct TestOff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "off",
        abstract: "Places the account off test (ends the active or scheduled test).",
        discussion: """
            Fails with FAILED_PRECONDITION (exit 9) when the system is not on test.

            Examples:
              copslink test off demo-1 --comment "Service done"
              copslink test off demo-1 --user-id tech-7 --user-name "Demo Technician"
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @Option(help: "Comment shown with the end of the test.") var comment = ""
    @Option(help: "Id of the user placing the account off test.") var userId = ""
    @Option(help: "Name of the user placing the account off test. Default (without --user-id too): the API key's name.") var userName = ""

    func run() async throws {
        try await Session.run(global) { session in
            let placedBy = userId.isEmpty && userName.isEmpty ? nil : UserRef(id: userId, name: userName)
            let answer = try await session.mutate(
                AccountService.Method.placeOffTest,
                PlaceOffTestRequest(requestID: session.requestID, customerID: customer, placedBy: placedBy, comment: comment),
                as: PlaceOffTestResponse.self)
            let response = answer.message
            // The session's Comment is the one it was placed on test with; this one is in its history.
            let scheduled = response.session.map(TestText.endedBeforeItBegan) ?? false
            let said = scheduled ? "\(customer)'s scheduled test is cancelled" : "\(customer) is off test"
            let ended = comment.isEmpty ? "\(said)." : "\(said) (comment: \(comment))."
            try session.emit(answer, text: ended + (response.session.map { "\n\n" + TestText.session($0) } ?? ""))
        }
    }
}

struct TestStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Shows whether the account is on test, with the current session.",
        discussion: """
            Examples:
              copslink test status demo-1
              copslink test status demo-1 --json | jq .on_test
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String

    func run() async throws {
        try await Session.run(global) { session in
            let status = try await session.accounts.getTestStatus(GetTestStatusRequest(customerID: customer), options: session.options)
            var text = "\(customer): \(TestText.summary(status))"
            if let current = status.current { text += "\n\n" + TestText.session(current) }
            try session.emit(status, text: text)
        }
    }
}

struct TestData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Reads test history, test results or signal history over a date range (at most 31 days), oldest first.",
        discussion: """
            --from and --to are dates YYYY-MM-DD in UTC (from: the start of that day; to: the end of that day, or \
            now when that is earlier) or full ISO 8601 timestamps (UTC unless an offset is given). Defaults: --to \
            now, --from the start of the day 30 days before --to; a range may span at most 31 days. \
            With --json: every page of the stream as one TestDataPage, {"history": [...], "results": [...], \
            "signals": [...]}, the requested list filled.

            Examples:
              copslink test data demo-3 --type history
              copslink test data demo-3 --type results \\
                --from "$(date -u -d '30 days ago' +%F)"
              copslink test data demo-3 --type signals --from 2026-11-01 --to 2026-11-28
              copslink test data demo-3 --type results --json \\
                --from 2026-11-01T00:00:00Z --to 2026-11-02T12:00:00
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @Option(help: "history, results, or signals (signal history: signals received while not on test).") var type: String
    @Option(
        help: ArgumentHelp("Start: YYYY-MM-DD (UTC) or ISO 8601. Default: the start of the day 30 days before --to.", valueName: "date"))
    var from: String?
    @Option(help: ArgumentHelp("End: YYYY-MM-DD (UTC, end of day, at most now) or ISO 8601. Default: now.", valueName: "date"))
    var to: String?
    @Option(parsing: .unconditional, help: "Rows per page the server sends, at most 5000 (0: the server's default, 500).") var pageSize:
        UInt32 = 0

    func validate() throws {
        _ = try dataType()
        _ = try range()
    }

    func dataType() throws(ValidationError) -> TestDataType {
        switch type.lowercased() {
        case "history": .history
        case "results", "result": .results
        case "signals", "signal": .signals
        default: throw ValidationError("--type '\(type)' must be history, results or signals.")
        }
    }

    func range(now: Int64 = Format.nowMs()) throws(ValidationError) -> (from: Int64, to: Int64) {
        let day: Int64 = 86_400_000
        var toMs = now
        if let to {
            let parsed = try TimeArgument.parse(to, option: "--to")
            // A date-only --to means the end of that day, cut back to now for today; a day that has not begun has
            // no data yet, which is said here rather than as the server's "start after end" once it is cut back.
            if parsed.dateOnly, parsed.ms > now {
                throw ValidationError(
                    "--to \(to) is a day in the future: data exists only up to now; give today or an earlier day, or leave --to out.")
            }
            toMs = parsed.dateOnly ? min(parsed.ms + day - 1, now) : parsed.ms
        }
        let fromMs: Int64
        if let from {
            fromMs = try TimeArgument.parse(from, option: "--from").ms
        } else {
            fromMs = (toMs / day - 30) * day
        }
        return (fromMs, toMs)
    }

    func run() async throws {
        let type = try dataType()
        let (fromMs, toMs) = try range()
        try await Session.run(global) { session in
            let request = RequestTestDataRequest(customerID: customer, type: type, fromMs: fromMs, toMs: toMs, pageSize: pageSize)
            let pages = try await session.accounts.requestTestData(request, options: session.options) { pages in
                try await pages.collect()
            }
            // Every page as one: a TestDataPage holds only lists, so this is the merge of the pages (their bytes
            // put together decode to it), what --json prints.
            let all = TestDataPage(
                history: pages.flatMap(\.history), results: pages.flatMap(\.results), signals: pages.flatMap(\.signals))
            let results = type == .signals ? all.signals : all.results
            try session.emit(all, text: TestText.data(type, history: all.history, results: results, fromMs: fromMs, toMs: toMs))
        }
    }
}

/// Parses the times the test commands take.
enum TimeArgument {
    /// `ms`, if the service takes it: times from 1970 through 9999 (the server says the same in epoch milliseconds).
    static func inRange(_ ms: Int64, _ text: String, _ option: String) throws(ValidationError) -> Int64 {
        guard (0...253_402_300_799_999).contains(ms) else {
            throw ValidationError("\(option) '\(text)' is outside the times the service takes: 1970-01-01 to 9999-12-31 (UTC).")
        }
        return ms
    }

    /// `YYYY-MM-DD` (the start of that day in UTC; `dateOnly` is then true) or an ISO 8601 timestamp
    /// (`2026-11-01T10:00:00Z`, fractional seconds and offsets allowed; without an offset, UTC).
    static func parse(_ text: String, option: String) throws(ValidationError) -> (ms: Int64, dateOnly: Bool) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 3, parts.map(\.count) == [4, 2, 2], let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let components = DateComponents(year: year, month: month, day: day)
            guard let date = calendar.date(from: components),
                calendar.dateComponents([.year, .month, .day], from: date) == components
            else { throw ValidationError("\(option) '\(text)' is not a valid date.") }
            return (try inRange(Int64((date.timeIntervalSince1970 * 1000).rounded()), text, option), true)
        }
        // A time without a zone is read as UTC, as the options' help says.
        if let ms = EpochMilliseconds.parse(text) ?? (text.contains("T") ? EpochMilliseconds.parse(text + "Z") : nil) {
            return (try inRange(ms, text, option), false)
        }
        throw ValidationError(
            "\(option) '\(text)' must be a date YYYY-MM-DD or an ISO 8601 time like 2026-11-01T10:00:00Z (UTC when no offset is given).")
    }
}

enum TestText {
    /// One of the three states: `off test`, `test SCHEDULED (service) from … (in 59m)`, or
    /// `ON TEST (service) until … (in 1h 59m)`.
    static func summary(_ status: TestStatus?) -> String {
        guard let status, status.state == .onTest || status.state == .scheduled else { return "off test" }
        guard let session = status.current else { return status.state == .onTest ? "ON TEST" : "test SCHEDULED" }
        let category = session.category?.id ?? "-"
        if status.state == .scheduled {
            return "test SCHEDULED (\(category)) from \(Format.timestamp(session.effectiveAtMs)) \(Format.relative(session.effectiveAtMs))"
                + " until \(Format.timestamp(session.expiresAtMs))"
        }
        return "ON TEST (\(category)) until \(Format.timestamp(session.expiresAtMs)) \(Format.relative(session.expiresAtMs))"
    }

    static func session(_ session: TestSession) -> String {
        var details = Details()
        details.add("Session", session.id)
        details.add("State", session.state.description)
        if let category = session.category {
            details.add("Category", category.description.isEmpty ? category.id : "\(category.id) (\(category.description))")
        }
        // Relative times only while the session is open: an ended one's "(in 59m)" read as if it were still to come.
        let ended = session.endedAtMs != 0
        func time(_ ms: Int64) -> String { ended ? Format.timestamp(ms) : "\(Format.timestamp(ms)) \(Format.relative(ms))" }
        details.add("Effective", time(session.effectiveAtMs))
        details.add(
            "Expires",
            ended && session.endedAtMs < session.expiresAtMs ? "\(time(session.expiresAtMs)) (planned)" : time(session.expiresAtMs))
        if session.expiresAtMs > session.effectiveAtMs, session.effectiveAtMs != 0 {
            details.add("Duration", Format.duration(ms: session.expiresAtMs - session.effectiveAtMs))
        }
        var scope = session.scope.description
        if !session.zoneNumbers.isEmpty { scope += ": " + session.zoneNumbers.joined(separator: ", ") }
        details.add("Scope", scope)
        details.addIfPresent("Comment", session.comment)
        if let user = session.placedBy { details.addIfPresent("Placed by", userText(user)) }
        if let authorization = session.authorizedBy {
            let text = [authorization.respondingPartyID, authorization.verifiedBy.isEmpty ? "" : "verified by \(authorization.verifiedBy)"]
                .filter { !$0.isEmpty }.joined(separator: ", ")
            details.addIfPresent("Authorized by", text)
        }
        if session.endedAtMs != 0 {
            details.add("Ended", "\(Format.timestamp(session.endedAtMs)) (\(session.endReason.description))")
        }
        return details.render()
    }

    static func userText(_ user: UserRef) -> String {
        switch (user.name.isEmpty, user.id.isEmpty) {
        case (false, false): "\(user.name) (\(user.id))"
        case (false, true): user.name
        case (true, false): user.id
        case (true, true): ""
        }
    }

    /// A scheduled test placed off before its effective time: cancelled, never on test.
    static func endedBeforeItBegan(_ session: TestSession) -> Bool {
        session.endedAtMs != 0 && session.endedAtMs < session.effectiveAtMs
    }

    static func data(_ type: TestDataType, history: [TestHistoryEntry], results: [TestResult], fromMs: Int64, toMs: Int64) -> String {
        let count = type == .history ? history.count : results.count
        let counted =
            switch type {
            case .history: Format.count(count, "history entry", "history entries")
            case .signals: Format.count(count, "signal", "signals") + " (signal history)"
            default: Format.count(count, "test result", "test results")
            }
        let heading = "\(counted) from \(Format.timestamp(fromMs)) to \(Format.timestamp(toMs))"
        guard count > 0 else { return heading }
        var table: Table
        if type == .history {
            table = Table("AT", "ACTION", "CATEGORY", "EFFECTIVE", "EXPIRES", "USER", "COMMENT", "SESSION")
            for entry in history {
                table.add(
                    Format.timestamp(entry.atMs), entry.action.description, entry.category?.id ?? "-",
                    Format.timestamp(entry.effectiveAtMs),
                    Format.timestamp(entry.expiresAtMs), Format.dash(entry.user.map(userText) ?? ""), Format.dash(entry.comment),
                    entry.sessionID)
            }
        } else {
            table = Table("RECEIVED", "ZONE", "DESCRIPTION", "EVENT", "Q", "EVENT DESCRIPTION", "USER", "PART", "RAW")
            for result in results {
                table.add(
                    Format.timestamp(result.receivedAtMs), Format.dash(result.zoneNumber), Format.dash(result.zoneDescription),
                    result.eventCode, "\(result.qualifier)", Format.dash(result.eventDescription), Format.dash(result.userNumber),
                    "\(result.partition)", Format.dash(result.rawMessage))
            }
        }
        return heading + "\n\n" + table.render()
    }
}
