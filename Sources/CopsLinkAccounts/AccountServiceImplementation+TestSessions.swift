public import CopsLinkCore
public import CopsLinkMessages
import CopsLinkServices
import Foundation

extension AccountServiceImplementation {
    public func listTestCategories(_ request: ListTestCategoriesRequest, context: ServerContext) async throws -> ListTestCategoriesResponse
    {
        try request.checkFieldLimits()
        return ListTestCategoriesResponse(categories: try await store.read(scope(context)) { try $0.testCategories() })
    }

    public func getTestStatus(_ request: GetTestStatusRequest, context: ServerContext) async throws -> TestStatus {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        let now = clock.nowMs()
        return try await store.read(scope(context)) { transaction in
            let link = try Self.linkedAccount(transaction, request.customerID)
            return TestSessionRules.status(of: try transaction.openSession(accountNumber: link.accountNumber), atMs: now)
        }
    }

    public func placeOnTest(_ request: PlaceOnTestRequest, context: ServerContext) async throws -> PlaceOnTestResponse {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        guard !request.categoryID.isEmpty else { throw AccountError.invalid("Choose a test category.") }
        try Validation.checkTimestamp(request.effectiveAtMs, "effective_at_ms")
        guard request.durationMinutes <= 59 else {
            throw AccountError.invalid("Minutes must be between 0 and 59, got \(request.durationMinutes).")
        }
        // 0 hours and 0 minutes: the category's default duration, known once the category is read.
        let requestedMinutes = Int64(request.durationHours) * 60 + Int64(request.durationMinutes)
        let maximum = configuration.effectiveMaximumTestMinutes
        guard requestedMinutes <= maximum else {
            throw AccountError.invalid(
                "A test of \(Self.hoursAndMinutes(requestedMinutes)) is longer than the maximum of \(Self.hoursAndMinutes(maximum)).")
        }
        let scope = request.scope == .unspecified ? TestScope.allZones : request.scope
        guard scope.isKnown else { throw AccountError.invalid("Unknown test scope \(scope.number).") }
        if scope == .allZones, !request.zoneNumbers.isEmpty {
            throw AccountError.invalid("A test of all zones lists no zones; choose 'only listed' or 'all except listed'.")
        }
        if scope != .allZones, request.zoneNumbers.isEmpty {
            throw AccountError.invalid(
                "List at least one zone for a test of \(scope == .onlyListed ? "only listed" : "all except listed") zones.")
        }
        for zone in request.zoneNumbers { try Validation.checkZone(zone) }
        guard Set(request.zoneNumbers).count == request.zoneNumbers.count else { throw AccountError.invalid("A zone is listed twice.") }
        if let authorization = request.authorizedBy, authorization.respondingPartyID.isEmpty {
            // Verification says how the authorizer was checked: without an authorizer it verifies no one.
            throw AccountError.invalid(
                "authorized_by needs the responding party who authorized the test (verification needs an authorizer).")
        }
        let skew = configuration.effectiveTimeSkewMs
        let placedBy = actingUser(request.placedBy, context)
        var cleared = request
        cleared.requestID = ""
        let response = try await mutate(
            AccountService.Method.placeOnTest, request, cleared, requestID: request.requestID, context: context, quota: .always
        ) { transaction, now in
            // Checked against the clock here, after the request id: a late retry still gets its first answer.
            let effective = request.effectiveAtMs == 0 ? now : request.effectiveAtMs
            guard effective >= now - skew else {
                throw AccountError.invalid("The effective time lies in the past; choose now or later.")
            }
            guard effective <= now + AccountServiceConfiguration.hardMaximumTestMinutes * 60_000 else {
                throw AccountError.invalid("The effective time lies more than 30 days ahead.")
            }
            let accountNumber = try Self.linkedAccount(transaction, request.customerID).accountNumber
            guard let category = try transaction.testCategory(id: request.categoryID) else {
                throw AccountError.invalid(
                    "Unknown test category '\(ClientText.excerpt(request.categoryID))'; ListTestCategories names them.")
            }
            let minutes = requestedMinutes > 0 ? requestedMinutes : Int64(category.defaultDurationMinutes)
            guard minutes > 0 else {
                throw AccountError.invalid("The test duration must be greater than zero (category '\(category.id)' has no default).")
            }
            guard minutes <= maximum else {
                throw AccountError.invalid(
                    "Category '\(category.id)' lasts \(Self.hoursAndMinutes(minutes)) by default, longer than the maximum of "
                        + "\(Self.hoursAndMinutes(maximum)); give a shorter duration.")
            }
            // A test that would have ended already was never on test: refused, not answered as an expired session.
            guard effective + minutes * 60_000 > now else {
                throw AccountError.invalid(
                    "A test of \(Self.hoursAndMinutes(minutes)) from an effective time \((now - effective) / 1_000) seconds before the "
                        + "server's clock would have ended already; choose a later effective time or a longer duration.")
            }
            if let partyID = request.authorizedBy?.respondingPartyID,
                try !transaction.respondingParties(customerID: request.customerID).contains(where: { $0.id == partyID })
            {
                throw AccountError.invalid(
                    "authorized_by: '\(ClientText.excerpt(partyID))' is not a responding party of this account.")
            }
            if !request.zoneNumbers.isEmpty {
                let known = Set(try transaction.zones(accountNumber: accountNumber).map(\.zoneNumber))
                    .union(try transaction.customer(id: request.customerID)?.equipment.map(\.zoneNumber) ?? [])
                if let unknown = request.zoneNumbers.first(where: { !known.contains($0) }) {
                    throw AccountError.invalid("Zone \(ClientText.excerpt(unknown)) is not a zone of this account.")
                }
            }
            if let open = try TestSessionRules.openSessionExpiringDue(transaction, accountNumber: accountNumber, atMs: now) {
                if TestSessionRules.state(of: open, atMs: now) == .scheduled {
                    throw AccountError(.failedPrecondition, "A test is already scheduled for this account; place it off test first.")
                }
                throw AccountError(.failedPrecondition, "System is currently on test.")
            }
            var session = TestSession(
                id: TimeOrderedID.make(atMs: now), category: category, effectiveAtMs: effective, expiresAtMs: effective + minutes * 60_000,
                scope: scope, zoneNumbers: request.zoneNumbers, comment: request.comment, placedBy: placedBy,
                authorizedBy: request.authorizedBy)
            try transaction.insertSession(accountNumber: accountNumber, session)
            try transaction.appendHistory(
                accountNumber: accountNumber,
                TestHistoryEntry(
                    atMs: now, action: .placedOnTest, sessionID: session.id, category: category, effectiveAtMs: session.effectiveAtMs,
                    expiresAtMs: session.expiresAtMs, user: placedBy, comment: request.comment))
            session.state = TestSessionRules.state(of: session, atMs: now)
            return PlaceOnTestResponse(session: session)
        }
        await expiry?.wake(expiringAtMs: response.session?.expiresAtMs ?? .min)
        return response
    }

    public func placeOffTest(_ request: PlaceOffTestRequest, context: ServerContext) async throws -> PlaceOffTestResponse {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        let placedBy = actingUser(request.placedBy, context)
        var cleared = request
        cleared.requestID = ""
        return try await mutate(
            AccountService.Method.placeOffTest, request, cleared, requestID: request.requestID, context: context, quota: .never
        ) {
            transaction, now in
            let accountNumber = try Self.linkedAccount(transaction, request.customerID).accountNumber
            guard var session = try TestSessionRules.openSessionExpiringDue(transaction, accountNumber: accountNumber, atMs: now) else {
                throw AccountError(.failedPrecondition, "System is not on test.")
            }
            try transaction.endSession(id: session.id, atMs: now, reason: .placedOff)
            try transaction.appendHistory(
                accountNumber: accountNumber,
                TestHistoryEntry(
                    atMs: now, action: .placedOffTest, sessionID: session.id, category: session.category,
                    effectiveAtMs: session.effectiveAtMs, expiresAtMs: session.expiresAtMs, user: placedBy, comment: request.comment))
            session.endedAtMs = now
            session.endReason = .placedOff
            session.state = .ended
            return PlaceOffTestResponse(session: session)
        }
    }

    /// Pages of rows the store keeps encoded (`AccountReadTransaction.testDataPage`), each read when the client has
    /// taken the one before it.
    public func requestTestData(
        _ request: RequestTestDataRequest, pages: ResponseWriter<EncodedMessage<TestDataPage>>, context: ServerContext
    ) async throws {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        let kind: TestDataKind
        switch request.type {
        case .history: kind = .history
        case .results: kind = .results
        case .signals: kind = .signals
        default: throw AccountError.invalid("Choose the type of test data: history, results or signals.")
        }
        try Validation.checkTimestamp(request.fromMs, "from_ms")
        try Validation.checkTimestamp(request.toMs, "to_ms")
        let now = clock.nowMs()
        // A start in the future is named as such: with the end left at now (the CLI's default), it read as a reversed range.
        guard request.fromMs <= now + configuration.testDataFutureSkewMs else {
            throw AccountError.invalid("The start of the date range lies in the future.")
        }
        guard request.fromMs <= request.toMs else { throw AccountError.invalid("The start of the date range is after its end.") }
        guard request.toMs <= now + configuration.testDataFutureSkewMs else {
            throw AccountError.invalid("The end of the date range lies in the future.")
        }
        guard request.toMs - request.fromMs <= configuration.maximumTestDataSpanMs else {
            let asked = Double(request.toMs - request.fromMs) / 86_400_000
            throw AccountError.invalid(
                "The date range may span at most \(configuration.maximumTestDataSpanMs / 86_400_000) days; this one spans \((asked * 10).rounded(.up) / 10) days."
            )
        }
        guard request.pageSize <= configuration.maximumPageSize else {
            throw AccountError.invalid("Page size \(request.pageSize) is above the maximum of \(configuration.maximumPageSize).")
        }
        let pageSize = request.pageSize == 0 ? configuration.defaultPageSize : Int(request.pageSize)
        let customerID = request.customerID
        let (accountNumber, expiryDue) = try await store.read(scope(context)) { transaction in
            let accountNumber = try Self.linkedAccount(transaction, customerID).accountNumber
            return (accountNumber, (try transaction.openSession(accountNumber: accountNumber)?.expiresAtMs ?? .max) <= now)
        }
        if expiryDue {
            _ = try await store.write(scope(context)) { try TestSessionRules.expireDue($0, accountNumber: accountNumber, atMs: now) }
        }
        // Signals past their retention are not returned, whether or not the pruner has deleted them yet.
        let cutoff = kind == .history ? nil : configuration.retentionCutoffMs(.signals, atMs: now)
        let fromMs = max(request.fromMs, cutoff ?? .min)
        guard fromMs <= request.toMs else { return }
        // Never cached: each page is read from the store when the client has room for it.
        var cursor: PageCursor?
        while true {
            let after = cursor
            let page = try await store.read(scope(context)) { transaction in
                try transaction.testDataPage(
                    kind, accountNumber: accountNumber, fromMs: fromMs, toMs: request.toMs, after: after, limit: pageSize)
            }
            if page.count > 0 { try await pages.write(page.message) }
            guard page.count == pageSize, let last = page.last else { return }
            cursor = last
        }
    }

    static func hoursAndMinutes(_ minutes: Int64) -> String {
        func count(_ value: Int64, _ unit: String) -> String { value == 1 ? "1 \(unit)" : "\(value) \(unit)s" }
        let hours = minutes / 60
        let rest = minutes % 60
        switch (hours, rest) {
        case (0, _): return count(rest, "minute")
        case (_, 0): return count(hours, "hour")
        default: return "\(count(hours, "hour")) \(count(rest, "minute"))"
        }
    }
}
