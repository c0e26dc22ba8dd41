import CopsLinkCore
public import CopsLinkMessages

/// Everything the central-station account page is built from, as stored: one read of it is what GetAccount costs.
///
/// A store fetches it in as few round trips as its engine allows (`AccountReadTransaction.storedAccount`); the
/// service alone turns it into the `Account` a caller sees (`AccountServiceImplementation.assemble`), so every store
/// gives the same answer.
public struct StoredAccount: Sendable, Equatable {
    public var link: AccountLink
    /// The customer as stored, passcode and equipment included.
    public var customer: Customer
    /// Zones entered at the central station, by zone number.
    public var zones: [Zone]
    /// In stored order.
    public var respondingParties: [RespondingParty]
    /// Oldest first, each with its directory entry and served zips.
    public var authorities: [AccountAuthority]
    /// The session that has not ended, if any: the test status is derived from it at read time.
    public var openSession: TestSession?

    public init(
        link: AccountLink, customer: Customer, zones: [Zone], respondingParties: [RespondingParty], authorities: [AccountAuthority],
        openSession: TestSession?
    ) {
        self.link = link
        self.customer = customer
        self.zones = zones
        self.respondingParties = respondingParties
        self.authorities = authorities
        self.openSession = openSession
    }
}

extension AccountReadTransaction {
    /// The reference reading, one query per kind of row: a store that can do better (joins, one statement for
    /// related rows) overrides `storedAccount` and must return exactly this.
    public func storedAccountByParts(customerID: String) throws -> StoredAccount? {
        guard let link = try link(customerID: customerID), let customer = try customer(id: customerID) else { return nil }
        return StoredAccount(
            link: link, customer: customer, zones: try zones(accountNumber: link.accountNumber),
            respondingParties: try respondingParties(customerID: customerID),
            authorities: try accountAuthorities(accountNumber: link.accountNumber),
            openSession: try openSession(accountNumber: link.accountNumber))
    }

    public func storedAccount(customerID: String) throws -> StoredAccount? {
        try storedAccountByParts(customerID: customerID)
    }
}
