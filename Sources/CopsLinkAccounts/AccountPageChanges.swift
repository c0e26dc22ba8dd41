/// What a write transaction changed that account pages show, by storage key: a store's write methods record it, and
/// the store rewrites the touched pages (`AccountPage`) before the write's work is released, in the same transaction,
/// so a page never disagrees with its rows, whatever crashes when. Engine-independent; each store finds the
/// customers behind account keys, authority ids and category ids with its own queries.
public final class AccountPageChanges {
    public var customerKeys: Set<String> = [] {
        didSet { forgetReads() }
    }
    public var accountKeys: Set<String> = [] {
        didSet { forgetReads() }
    }
    /// Directory entries: every account with one of them shows it, whichever dealer's (only in its authorities: a store
    /// may treat those accounts as `authorityAccountKeys`).
    public var authorityIDs: Set<String> = [] {
        didSet { forgetReads() }
    }
    /// Test categories: open sessions show their description.
    public var categoryIDs: Set<String> = [] {
        didSet { forgetReads() }
    }
    /// Accounts whose authorities alone changed (an entry added or removed): a store may replace just the authorities
    /// of their pages (`AccountPage.replaceAuthorities`), or treat them as `accountKeys`.
    public var authorityAccountKeys: Set<String> = [] {
        didSet { forgetReads() }
    }
    /// Accounts whose open test session alone changed: a store may rewrite just the session part of their pages
    /// (`AccountPage.encodedOpenSession`), or treat them as `accountKeys`.
    public var sessionAccountKeys: Set<String> = [] {
        didSet { forgetReads() }
    }
    /// Accounts the write read whole since its last recorded change, by customer key, each read in its own
    /// dealer's scope: what a page of theirs would be built from now. A store may build those pages from them
    /// instead of reading them again (LinkAccount answers with the account it has just written). Every recorded
    /// change forgets them all, so one is never older than the rows.
    public var readSinceLastChange: [String: StoredAccount] = [:]

    public init() {}

    public var isEmpty: Bool {
        customerKeys.isEmpty && accountKeys.isEmpty && authorityAccountKeys.isEmpty && authorityIDs.isEmpty && categoryIDs.isEmpty
            && sessionAccountKeys.isEmpty
    }

    private func forgetReads() {
        if !readSinceLastChange.isEmpty { readSinceLastChange = [:] }
    }

    /// Forgets everything recorded (after the pages were rewritten).
    public func removeAll() {
        customerKeys = []
        accountKeys = []
        authorityAccountKeys = []
        authorityIDs = []
        categoryIDs = []
        sessionAccountKeys = []
    }
}
