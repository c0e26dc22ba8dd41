import CopsLinkCore
public import CopsLinkMessages

/// How test sessions behave over time: state, scope, expiry.
public enum TestSessionRules {
    /// The state of `session` at `nowMs`, derived from its times and whether it ended.
    public static func state(of session: TestSession, atMs nowMs: Int64) -> TestState {
        if session.endedAtMs > 0 { return session.endReason == .expired ? .expired : .ended }
        if nowMs < session.effectiveAtMs { return .scheduled }
        if nowMs < session.expiresAtMs { return .active }
        return .expired
    }

    /// The status page's view: on test while a session is active, scheduled (with the session, not on test) before
    /// it starts, off test otherwise.
    public static func status(of open: TestSession?, atMs nowMs: Int64) -> TestStatus {
        guard var session = open else { return TestStatus(state: .offTest) }
        session.state = state(of: session, atMs: nowMs)
        switch session.state {
        case .active: return TestStatus(onTest: true, current: session, state: .onTest)
        case .scheduled: return TestStatus(onTest: false, current: session, state: .scheduled)
        default: return TestStatus(state: .offTest)
        }
    }

    /// Whether a signal from `zone` counts for `session`. User events (empty zone) count only for all-zone tests.
    public static func covers(_ session: TestSession, zone: String) -> Bool {
        switch session.scope {
        case .onlyListed: !zone.isEmpty && session.zoneNumbers.contains(zone)
        case .allExceptListed: zone.isEmpty || !session.zoneNumbers.contains(zone)
        default: true
        }
    }

    /// The open session of `accountNumber` at `nowMs`, after ending it if its expiry has passed (as `expireDue`): one
    /// read of the session where expiring and then reading took two, on the path of every PlaceOnTest and PlaceOffTest.
    public static func openSessionExpiringDue(
        _ transaction: any AccountWriteTransaction, accountNumber: String, atMs nowMs: Int64
    ) throws -> TestSession? {
        guard let open = try transaction.openSession(accountNumber: accountNumber) else { return nil }
        guard open.expiresAtMs <= nowMs else { return open }
        try expire(open, of: accountNumber, in: transaction)
        return nil
    }

    /// Ends every open session of `accountNumber` (or of every account) whose expiry has passed, at its expiry time,
    /// with an "expired" history entry at that time. Returns how many it ended.
    @discardableResult
    public static func expireDue(_ transaction: any AccountWriteTransaction, accountNumber: String? = nil, atMs nowMs: Int64) throws -> Int
    {
        let due: [(accountNumber: String, session: TestSession)]
        if let accountNumber {
            guard let open = try transaction.openSession(accountNumber: accountNumber), open.expiresAtMs <= nowMs else { return 0 }
            due = [(accountNumber, open)]
        } else {
            due = try transaction.sessionsDue(atMs: nowMs)
        }
        for (accountNumber, session) in due { try expire(session, of: accountNumber, in: transaction) }
        return due.count
    }

    /// Ends `session` at its expiry time, with an "expired" history entry at that time.
    private static func expire(_ session: TestSession, of accountNumber: String, in transaction: any AccountWriteTransaction) throws {
        try transaction.endSession(id: session.id, atMs: session.expiresAtMs, reason: .expired)
        try transaction.appendHistory(
            accountNumber: accountNumber,
            TestHistoryEntry(
                atMs: session.expiresAtMs, action: .expired, sessionID: session.id, category: session.category,
                effectiveAtMs: session.effectiveAtMs, expiresAtMs: session.expiresAtMs, user: nil, comment: "Test expired"))
    }
}
