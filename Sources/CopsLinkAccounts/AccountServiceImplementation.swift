public import CopsLinkCore
public import CopsLinkMessages
public import CopsLinkServices
import Foundation

/// `copslink.v1.AccountService` over an `AccountStore`.
///
/// Stateless itself: reads run concurrently against the store, every mutation is one serialized store
/// transaction that checks the rules against the state it changes, so concurrent mutations of one account cannot
/// both win. Test expiry is derived on every read and materialized by `TestExpiryScheduler` and by every mutation.
public struct AccountServiceImplementation: AccountService.ServiceProtocol {
    let store: any AccountStore
    let clock: any AccountClock
    let configuration: AccountServiceConfiguration
    let expiry: TestExpiryScheduler?
    let accountNumbers: AccountNumberGenerator

    public init(
        store: any AccountStore, clock: any AccountClock = SystemAccountClock(),
        configuration: AccountServiceConfiguration = AccountServiceConfiguration(), expiry: TestExpiryScheduler? = nil,
        accountNumbers: AccountNumberGenerator = .random
    ) {
        self.store = store
        self.clock = clock
        self.configuration = configuration
        self.expiry = expiry
        self.accountNumbers = accountNumbers
    }

    // MARK: Account

    public func linkAccount(_ request: LinkAccountRequest, context: ServerContext) async throws -> LinkAccountResponse {
        try request.checkFieldLimits()
        let customer = try Validation.checkCustomer(request.customer, parties: request.respondingParties)
        if !request.accountNumber.isEmpty, !Validation.isAccountNumber(request.accountNumber) {
            throw AccountError.invalid(
                "Account number '\(ClientText.excerpt(request.accountNumber))' may hold only letters, digits and dashes (at most 32).")
        }
        var cleared = request
        cleared.requestID = ""
        let dealerID = dealer(context)
        let quota = configuration.maximumAccountsPerDealer
        let accountNumbers = accountNumbers
        return try await mutate(
            AccountService.Method.linkAccount, request, cleared, requestID: request.requestID, context: context, quota: .always
        ) {
            transaction, now in
            let existing = try transaction.link(customerID: customer.id)
            if let existing {
                if existing.state == .linked {
                    throw AccountError(
                        .alreadyExists,
                        "Customer '\(ClientText.excerpt(customer.id))' is already linked to central-station account \(ClientText.excerpt(existing.accountNumber))."
                    )
                }
            } else if try transaction.customerCount() >= quota {
                // Relinking an unlinked customer adds no account, so only a new customer counts.
                throw AccountError(.resourceExhausted, "dealer \(dealerID) has reached its quota of \(quota) accounts")
            }
            // Central-station data belongs to the account number: a new number starts empty, an existing one of this
            // dealer (unlinked from whichever customer had it) brings its zones, authorities, tests and history, and
            // keeps its receiver and line unless the request names them. A relink that names no number takes the
            // customer's last one back, unless another customer holds it linked now: relinking is not meant to leave
            // the account and its history behind.
            var accountNumber = request.accountNumber
            if accountNumber.isEmpty, let existing, try transaction.link(accountNumber: existing.accountNumber)?.state != .linked {
                accountNumber = existing.accountNumber
            }
            if accountNumber.isEmpty {
                guard let free = try accountNumbers.firstFree({ try transaction.isAccountNumberTaken($0) }) else {
                    throw AccountError(
                        .resourceExhausted, "could not allocate an account number after \(AccountNumberGenerator.maximumAttempts) attempts")
                }
                accountNumber = free
            } else if let holder = try transaction.link(accountNumber: accountNumber), holder.state == .linked {
                throw AccountError(
                    .alreadyExists,
                    "Account number \(ClientText.excerpt(accountNumber)) is linked to customer '\(ClientText.excerpt(holder.customerID))'.")
            } else if try transaction.stationLine(accountNumber: accountNumber) == nil, try transaction.isAccountNumberTaken(accountNumber)
            {
                // Another dealer's account: say only that the number is taken.
                throw AccountError(
                    .alreadyExists, "Account number \(ClientText.excerpt(accountNumber)) is already in use at the central station.")
            }
            let (saved, parties) = try Self.keepingPasscodes(transaction, customer, parties: request.respondingParties)
            let station = try transaction.stationLine(accountNumber: accountNumber)
            // New to the store: generated here, or named and never linked before (so a mistyped number shows).
            let created = station == nil
            let (removedParties, removedEquipment) = try Self.removals(transaction, saved, parties: parties)
            try transaction.saveCustomer(saved)
            try transaction.replaceRespondingParties(customerID: customer.id, parties)
            try transaction.saveLink(
                AccountLink(
                    customerID: customer.id, accountNumber: accountNumber,
                    receiverNumber: request.receiverNumber.isEmpty ? station?.receiverNumber ?? "1" : request.receiverNumber,
                    line: request.line.isEmpty ? station?.line ?? "1" : request.line, state: .linked, linkedAtMs: now))
            return LinkAccountResponse(
                account: try Self.assemble(transaction, customerID: customer.id, atMs: now), created: created,
                removedPartyIDs: removedParties, removedEquipmentIDs: removedEquipment)
        }
    }

    /// One read of the customer's account page (`AccountPage`), with the test status of this moment appended.
    public func getAccount(_ request: GetAccountRequest, context: ServerContext) async throws -> EncodedMessage<Account> {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        guard let page = try await store.accountPage(scope(context), customerID: request.customerID) else {
            throw AccountError.customerNotFound(request.customerID)
        }
        return try page.account(atMs: clock.nowMs())
    }

    public func unlinkAccount(_ request: UnlinkAccountRequest, context: ServerContext) async throws -> UnlinkAccountResponse {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        var cleared = request
        cleared.requestID = ""
        let unlinkedBy = actingUser(nil, context)
        return try await mutate(AccountService.Method.unlinkAccount, request, cleared, requestID: request.requestID, context: context) {
            transaction, now in
            guard var link = try transaction.link(customerID: request.customerID) else {
                throw AccountError.customerNotFound(request.customerID)
            }
            let wasLinked = link.state == .linked
            var endedTest: TestSession?
            if wasLinked {
                link.state = .unlinked
                link.unlinkedAtMs = now
                try transaction.saveLink(link)
                // No test may outlive the link: nothing could place an unlinked account off test.
                try TestSessionRules.expireDue(transaction, accountNumber: link.accountNumber, atMs: now)
                if var open = try transaction.openSession(accountNumber: link.accountNumber) {
                    try transaction.endSession(id: open.id, atMs: now, reason: .placedOff)
                    try transaction.appendHistory(
                        accountNumber: link.accountNumber,
                        TestHistoryEntry(
                            atMs: now, action: .placedOffTest, sessionID: open.id, category: open.category,
                            effectiveAtMs: open.effectiveAtMs,
                            expiresAtMs: open.expiresAtMs, user: unlinkedBy, comment: Self.unlinkEndsTestComment))
                    open.endedAtMs = now
                    open.endReason = .placedOff
                    open.state = .ended
                    endedTest = open
                }
            }
            return UnlinkAccountResponse(
                wasLinked: wasLinked, account: try Self.assemble(transaction, customerID: request.customerID, atMs: now),
                endedTest: endedTest)
        }
    }

    public func syncCustomer(_ request: SyncCustomerRequest, context: ServerContext) async throws -> SyncCustomerResponse {
        try request.checkFieldLimits()
        let pushed = try Validation.checkCustomer(request.customer, parties: request.respondingParties)
        var cleared = request
        cleared.requestID = ""
        return try await mutate(
            AccountService.Method.syncCustomer, request, cleared, requestID: request.requestID, context: context, quota: .always
        ) {
            transaction, now in
            _ = try Self.linkedAccount(transaction, pushed.id)
            let (customer, parties) = try Self.keepingPasscodes(transaction, pushed, parties: request.respondingParties)
            let (removedParties, removedEquipment) = try Self.removals(transaction, customer, parties: parties)
            try transaction.saveCustomer(customer)
            try transaction.replaceRespondingParties(customerID: customer.id, parties)
            return SyncCustomerResponse(
                account: try Self.assemble(transaction, customerID: customer.id, atMs: now), removedPartyIDs: removedParties,
                removedEquipmentIDs: removedEquipment)
        }
    }

    // MARK: Authorities

    public func searchAuthorities(_ request: SearchAuthoritiesRequest, context: ServerContext) async throws -> SearchAuthoritiesResponse {
        try request.checkFieldLimits()
        guard request.type != .unspecified else {
            throw AccountError.invalid("Choose an authority type (police, fire, medical, guard, electrical).")
        }
        guard request.type.isKnown else {
            throw AccountError.invalid(
                "Unknown authority type \(request.type.number); choose police, fire, medical, guard or electrical.")
        }
        let authorities = try await store.read(scope(context)) { transaction in
            // A customer named is one this dealer has linked, whether its zip is used or not: as every operation on
            // an account (NOT_FOUND, FAILED_PRECONDITION).
            if !request.customerID.isEmpty { _ = try Self.linkedAccount(transaction, request.customerID) }
            var zip = request.zip
            if zip.isEmpty {
                guard !request.customerID.isEmpty else {
                    throw AccountError.invalid("Type a zip code, or name the customer whose zip code to use.")
                }
                zip = try transaction.customer(id: request.customerID)?.address?.zip ?? ""
                guard !zip.isEmpty else { throw AccountError(.failedPrecondition, "The customer has no zip code; type one.") }
            }
            guard Validation.isZip(zip) else {
                throw AccountError.invalid("Zip code '\(ClientText.excerpt(zip))' must look like 84601 or 84601-1234.")
            }
            return try transaction.authorities(type: request.type, zip: Validation.zip5(zip))
        }
        return SearchAuthoritiesResponse(authorities: authorities)
    }

    public func addAccountAuthorities(
        _ request: AddAccountAuthoritiesRequest, context: ServerContext
    ) async throws -> AddAccountAuthoritiesResponse {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        guard !request.authorities.isEmpty else { throw AccountError.invalid("Choose at least one authority to add.") }
        var named = Set<String>()
        for (index, wanted) in request.authorities.enumerated() {
            try Validation.requireID(wanted.authorityID, "authorities[\(index)].authority_id")
            guard named.insert(wanted.authorityID).inserted else {
                throw AccountError.invalid("The request names authority '\(ClientText.excerpt(wanted.authorityID))' twice.")
            }
        }
        var cleared = request
        cleared.requestID = ""
        let addedBy = request.addedBy.isEmpty ? actingName(context) : request.addedBy
        return try await mutate(
            AccountService.Method.addAccountAuthorities, request, cleared, requestID: request.requestID, context: context,
            quota: .always
        ) { transaction, now in
            let accountNumber = try Self.linkedAccount(transaction, request.customerID).accountNumber
            let zip = Validation.zip5(try transaction.customer(id: request.customerID)?.address?.zip ?? "")
            var onAccount = try transaction.accountAuthorities(accountNumber: accountNumber).compactMap(\.authority)
            var added: [AccountAuthority] = []
            for wanted in request.authorities {
                guard let authority = try transaction.authority(id: wanted.authorityID) else {
                    throw AccountError(.notFound, "No authority '\(ClientText.excerpt(wanted.authorityID))' in the directory.")
                }
                guard authority.servedZips.contains(zip) else {
                    throw AccountError(
                        .failedPrecondition,
                        "\(authority.name) does not serve the customer's zip code \(zip.isEmpty ? "(none)" : ClientText.excerpt(zip)).")
                }
                if let earlier = added.compactMap(\.authority).first(where: { $0.type == authority.type }) {
                    throw AccountError.invalid(
                        "The request names two \(authority.type.description.lowercased()) authorities (\(earlier.name) and \(authority.name)); an account has one of each type."
                    )
                }
                if onAccount.contains(where: { $0.id == authority.id }) {
                    throw AccountError(.alreadyExists, "\(authority.name) is already an authority of this account.")
                }
                if let sameType = onAccount.first(where: { $0.type == authority.type }) {
                    throw AccountError(
                        .alreadyExists,
                        "The account already has a \(authority.type.description.lowercased()) authority (\(sameType.name)); remove it first."
                    )
                }
                if authority.permitRequired, Validation.isBlank(wanted.permitNumber) {
                    throw AccountError.invalid("\(authority.name) requires a permit number.")
                }
                let entry = AccountAuthority(
                    id: TimeOrderedID.make(atMs: now), authority: authority, permitNumber: wanted.permitNumber, addedAtMs: now,
                    addedBy: addedBy)
                try transaction.insertAccountAuthority(accountNumber: accountNumber, entry)
                onAccount.append(authority)
                added.append(entry)
            }
            return AddAccountAuthoritiesResponse(added: added)
        }
    }

    public func removeAccountAuthority(
        _ request: RemoveAccountAuthorityRequest, context: ServerContext
    ) async throws -> RemoveAccountAuthorityResponse {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        try Validation.requireID(request.accountAuthorityID, "The account authority id")
        var cleared = request
        cleared.requestID = ""
        return try await mutate(
            AccountService.Method.removeAccountAuthority, request, cleared, requestID: request.requestID, context: context,
            quota: .never
        ) { transaction, _ in
            let accountNumber = try Self.linkedAccount(transaction, request.customerID).accountNumber
            let entries = try transaction.accountAuthorities(accountNumber: accountNumber)
            guard let entry = entries.first(where: { $0.id == request.accountAuthorityID }) else {
                let wanted = ClientText.excerpt(request.accountAuthorityID)
                // A directory id is the likely mix-up: name the entry id that removes it.
                if let listed = entries.first(where: { $0.authority?.id == request.accountAuthorityID }) {
                    throw AccountError(
                        .notFound,
                        "The account has no authority entry '\(wanted)': that is a directory authority id; its entry on this account is '\(ClientText.excerpt(listed.id))'."
                    )
                }
                throw AccountError(.notFound, "The account has no authority entry '\(wanted)'.")
            }
            try transaction.deleteAccountAuthority(accountNumber: accountNumber, id: entry.id)
            return RemoveAccountAuthorityResponse(removed: entry)
        }
    }

    // MARK: Zones

    public func setCentralStationZones(
        _ request: SetCentralStationZonesRequest, context: ServerContext
    ) async throws -> SetCentralStationZonesResponse {
        try request.checkFieldLimits()
        try Validation.requireID(request.customerID, "The customer id")
        var numbers = Set<String>()
        for (index, zone) in request.zones.enumerated() {
            try Validation.checkZone(zone.zoneNumber)
            guard !Validation.isBlank(zone.description) else { throw AccountError.invalid("zones[\(index)].description is required.") }
            try Validation.checkKnown(zone.eventType, "zones[\(index)].event_type")
            try Validation.checkPartition(zone.partition, "zones[\(index)].partition")
            guard numbers.insert(zone.zoneNumber).inserted else {
                throw AccountError.invalid("Zone \(ClientText.excerpt(zone.zoneNumber)) appears twice.")
            }
        }
        var cleared = request
        cleared.requestID = ""
        return try await mutate(
            AccountService.Method.setCentralStationZones, request, cleared, requestID: request.requestID, context: context,
            quota: .always
        ) { transaction, _ in
            let accountNumber = try Self.linkedAccount(transaction, request.customerID).accountNumber
            try transaction.replaceZones(accountNumber: accountNumber, request.zones)
            let equipment = try transaction.customer(id: request.customerID)?.equipment ?? []
            let (mapped, unmapped) = CentralStationView.mapZones(request.zones, equipment: equipment)
            return SetCentralStationZonesResponse(mappedZones: mapped, unmappedZones: unmapped)
        }
    }

    /// The history comment of a test that unlinking ended.
    static let unlinkEndsTestComment = "Placed off test: the account was unlinked"

    // MARK: Shared

    /// The dealer whose customers this call may see: the authenticated caller's, or (auth disabled, in-process
    /// use) the configured one.
    func scope(_ context: ServerContext) -> StoreScope {
        .dealer(dealer(context))
    }

    /// The dealer the call acts for.
    func dealer(_ context: ServerContext) -> String {
        context.caller?.tenant ?? configuration.dealerWithoutCaller
    }

    /// Who the call records as `added_by` / `placed_by` when the request names nobody: the calling API key's name
    /// (`key <id>` for a key without one), or `anonymous` without an authenticated caller (authentication disabled,
    /// in-process use). At most `FieldLimits.name` bytes, like a name a request sends.
    func actingName(_ context: ServerContext) -> String {
        guard let caller = context.caller else { return Self.anonymousName }
        return FieldLimits.prefix(caller.keyName.isEmpty ? "key \(caller.keyID)" : caller.keyName, FieldLimits.name)
    }

    /// `actingName` of calls without an authenticated caller.
    public static let anonymousName = "anonymous"

    /// `user`, or the caller (`actingName`) when the request names no user.
    func actingUser(_ user: UserRef?, _ context: ServerContext) -> UserRef {
        guard let user, !(user.id.isEmpty && user.name.isEmpty) else { return UserRef(name: actingName(context)) }
        return user
    }

    /// Runs `body` in one write transaction, once per request id. A replay (the request id was answered before)
    /// returns the stored first answer and marks it with the `copslink-replayed: true` trailer. A call that may store
    /// rows `StorageQuota` counts (as `quota` says) is refused while its dealer is at or over the quota; a replay is
    /// still answered.
    func mutate<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, _ request: Request, _ cleared: Request, requestID field: String, context: ServerContext,
        quota: StorageQuota.Check = .whenKeepingAnAnswer,
        _ body: @escaping @Sendable (any AccountWriteTransaction, Int64) throws -> Response
    ) async throws -> Response {
        let requestID = try Idempotency.requestID(field: field, context: context)
        let fingerprint = requestID.isEmpty ? 0 : Idempotency.fingerprint(of: cleared)
        // Read before the transaction (`AccountStore.storedBytes(_:)`), applied in it once the call is known not to be
        // a replay.
        let checked =
            switch quota {
            case .always: true
            case .whenKeepingAnAnswer: !requestID.isEmpty
            case .never: false
            }
        let quotaRefusal = checked ? try await storageQuotaRefusal(context) : nil
        let now = clock.nowMs()
        // A record past its retention runs again, whether or not the pruner has deleted it yet; saving replaces it.
        let replayedSince = configuration.retentionCutoffMs(.idempotencyRecords, atMs: now) ?? .min
        let (response, replayed) = try await store.write(scope(context)) { transaction in
            if !requestID.isEmpty, let record = try transaction.idempotencyRecord(requestID: requestID),
                record.createdAtMs >= replayedSince
            {
                guard record.method == method.path, record.fingerprint == fingerprint else {
                    throw AccountError(
                        .alreadyExists, "Request id \(ClientText.excerpt(requestID)) was already used for a different request.")
                }
                return (try record.response.withUnsafeBytes { try Response(serializedBytes: $0) }, true)
            }
            if let quotaRefusal { throw quotaRefusal }
            let response = try body(transaction, now)
            if !requestID.isEmpty {
                try transaction.saveIdempotencyRecord(
                    IdempotencyRecord(
                        requestID: requestID, method: method.path, fingerprint: fingerprint, response: response.serializedBytes(),
                        createdAtMs: now))
            }
            return (response, false)
        }
        if replayed { context.responseTrailers.add(Metadata.replayedKey, Metadata.replayedValue) }
        return response
    }

    /// The link of a linked customer; NOT_FOUND or FAILED_PRECONDITION otherwise.
    static func linkedAccount(_ transaction: any AccountReadTransaction, _ customerID: String) throws -> AccountLink {
        guard let link = try transaction.link(customerID: customerID) else { throw AccountError.customerNotFound(customerID) }
        guard link.state == .linked else { throw AccountError.notLinked(customerID) }
        return link
    }

    /// The central-station account page of `customerID`, or nil if there is no such account.
    static func assemble(_ transaction: any AccountReadTransaction, customerID: String, atMs now: Int64) throws -> Account? {
        try transaction.storedAccount(customerID: customerID).map { assemble($0, atMs: now) }
    }

    /// The account page of what is stored: the one place that decides it, whichever store read it.
    ///
    /// What lives at the central station (receiver and line, zones, authorities, tests) belongs to the account
    /// number, and an unlinked customer no longer has the number: it may be linked to another customer since, whose
    /// zones and live test the unlinked customer's page showed. So an unlinked customer's page shows its customer,
    /// its responding parties and the number it was last linked to (and when), and no station data. That also keeps
    /// a write to a number from touching more than one page: every customer ever linked to the number showed its
    /// receiver and line, so a chain of customers linked to one number and unlinked again made each later write to
    /// it rebuild all their pages (a dealer's cheap zone writes took 0.1 s each after 457, and other dealers' writes
    /// waited 28 s behind a flood of them).
    static func assemble(_ stored: StoredAccount, atMs now: Int64) -> Account {
        let (link, customer) = (stored.link, stored.customer)
        let linked = link.state == .linked
        let (mapped, unmapped) = CentralStationView.mapZones(linked ? stored.zones : [], equipment: customer.equipment)
        let zip = customer.address?.zip ?? ""
        return Account(
            customer: CentralStationView.customer(customer), linkState: link.state, accountNumber: link.accountNumber,
            receiverNumber: linked ? link.receiverNumber : "", line: linked ? link.line : "", linkedAtMs: link.linkedAtMs,
            unlinkedAtMs: link.unlinkedAtMs,
            respondingParties: stored.respondingParties
                .sorted { ($0.priority, $0.id) < ($1.priority, $1.id) }.map(CentralStationView.party),
            authorities: linked ? pageAuthorities(stored.authorities, customerZip: zip) : [],
            mappedZones: mapped, unmappedZones: unmapped,
            testStatus: TestSessionRules.status(of: linked ? stored.openSession : nil, atMs: now))
    }

    /// A linked account's authorities as its page shows them to a customer whose address has the zip `customerZip`
    /// ("" without an address): each flagged when it does not serve that zip. Flagged, not removed: the dealer decides
    /// what replaces an authority the customer moved away from.
    static func pageAuthorities(_ entries: [AccountAuthority], customerZip: String) -> [AccountAuthority] {
        let zip = Validation.zip5(customerZip)
        return entries.map { entry in
            var entry = entry
            entry.doesNotServeZip = !(entry.authority?.servedZips.contains(zip) ?? false)
            return entry
        }
    }

    /// `customer` and `parties` with the stored passcodes of the customer and of each party (by id) where they send
    /// none. Passcodes are never returned, so a CRM that sends back what it read cannot send them: an empty one keeps
    /// what is stored (a relink or SyncCustomer used to wipe the parties' while keeping the customer's).
    static func keepingPasscodes(
        _ transaction: any AccountReadTransaction, _ customer: Customer, parties: [RespondingParty]
    ) throws -> (Customer, [RespondingParty]) {
        guard customer.passcode.isEmpty || parties.contains(where: \.passcode.isEmpty) else { return (customer, parties) }
        var customer = customer
        if customer.passcode.isEmpty, let stored = try transaction.customer(id: customer.id) { customer.passcode = stored.passcode }
        guard parties.contains(where: \.passcode.isEmpty) else { return (customer, parties) }
        let stored = Dictionary(
            try transaction.respondingParties(customerID: customer.id).map { ($0.id, $0.passcode) }, uniquingKeysWith: { first, _ in first }
        )
        guard !stored.isEmpty else { return (customer, parties) }
        let kept = parties.map { party in
            var party = party
            if party.passcode.isEmpty, let passcode = stored[party.id] { party.passcode = passcode }
            return party
        }
        return (customer, kept)
    }

    /// Ids of the parties and equipment the stored customer has and `customer`/`parties` no longer send, in stored
    /// order; empty for a new customer.
    static func removals(
        _ transaction: any AccountReadTransaction, _ customer: Customer, parties: [RespondingParty]
    ) throws
        -> (parties: [String], equipment: [String])
    {
        guard let stored = try transaction.customer(id: customer.id) else { return ([], []) }
        let sentParties = Set(parties.map(\.id))
        let sentEquipment = Set(customer.equipment.map(\.id))
        return (
            try transaction.respondingParties(customerID: customer.id).map(\.id).filter { !sentParties.contains($0) },
            stored.equipment.map(\.id).filter { !sentEquipment.contains($0) }
        )
    }
}
