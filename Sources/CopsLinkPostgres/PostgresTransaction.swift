import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import PostgresNIO

/// One transaction's view of the database, as `SQLiteTransaction` is for SQLite: the same storage keys, the same
/// answers. Every value reaches PostgreSQL as a bound parameter (`PostgresQuery` interpolation); no text from a
/// caller is ever part of the SQL.
///
/// Customers are stored under a key that starts with their dealer's id (`dealer/customer`), and central-station
/// accounts likewise (`dealer/accountNumber`), so that every query of a dealer-scoped transaction only reaches that
/// dealer's rows. Ids and numbers go in and come out unprefixed.
struct PostgresTransaction: AccountWriteTransaction {
    let connection: BlockingConnection
    /// The dealer this transaction sees, or nil for the server's own work across dealers (test expiry).
    let dealer: String?
    /// What this write transaction changed that account pages show; nil in read transactions.
    let pageChanges: AccountPageChanges?

    init(connection: BlockingConnection, scope: StoreScope, pageChanges: AccountPageChanges? = nil) {
        self.connection = connection
        self.pageChanges = pageChanges
        switch scope {
        case .dealer(let id): dealer = id
        case .allDealers: dealer = nil
        }
    }

    /// The storage key of a customer id, an account number or a request id (all three are per dealer).
    func key(_ id: String) -> String {
        guard let dealer else { return id }
        return dealer + "/" + id
    }

    /// The id a caller knows for a storage key.
    func externalID(_ stored: String) -> String {
        guard let dealer, stored.hasPrefix(dealer + "/") else { return stored }
        return String(stored.dropFirst(dealer.count + 1))
    }

    /// The dealer a storage key belongs to.
    static func dealer(ofKey stored: String) -> String {
        String(stored.prefix { $0 != "/" })
    }

    // MARK: Customers

    func customer(id: String) throws -> Customer? {
        let stored = key(id)
        guard let row = try connection.row("SELECT * FROM customer WHERE id = \(stored)") else { return nil }
        let equipment = try connection.rows("SELECT * FROM equipment WHERE customer_id = \(stored) ORDER BY position").map { row in
            Equipment(
                id: try row.value("id"), name: try row.value("name"), zoneNumber: try row.value("zone_number"),
                zoneDescription: try row.value("zone_description"), installed: try row.value("installed"))
        }
        return Customer(
            id: externalID(try row.value("id")), firstName: try row.value("first_name"), lastName: try row.value("last_name"),
            companyName: try row.value("company_name"), address: try Self.address(row), premisePhone: try row.value("premise_phone"),
            passcode: try row.value("passcode"), equipment: equipment)
    }

    func saveCustomer(_ customer: Customer) throws {
        let address = customer.address ?? Address()
        let stored = key(customer.id)
        pageChanges?.customerKeys.insert(stored)
        try connection.execute(
            """
            INSERT INTO customer (id, dealer_id, first_name, last_name, company_name, has_address, street1, street2, city,
                state, zip, premise_phone, passcode)
            VALUES (\(stored), \(Self.dealer(ofKey: stored)), \(customer.firstName), \(customer.lastName), \(customer.companyName),
                \(customer.address != nil), \(address.street1), \(address.street2), \(address.city), \(address.state), \(address.zip),
                \(customer.premisePhone), \(customer.passcode))
            ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
                company_name = excluded.company_name, has_address = excluded.has_address, street1 = excluded.street1,
                street2 = excluded.street2, city = excluded.city, state = excluded.state, zip = excluded.zip,
                premise_phone = excluded.premise_phone, passcode = excluded.passcode
            """)
        try connection.execute("DELETE FROM equipment WHERE customer_id = \(stored)")
        for (position, item) in customer.equipment.enumerated() {
            try connection.execute(
                """
                INSERT INTO equipment (customer_id, position, id, name, zone_number, zone_description, installed)
                VALUES (\(stored), \(Int64(position)), \(item.id), \(item.name), \(item.zoneNumber), \(item.zoneDescription), \(item.installed))
                """)
        }
    }

    func customerCount() throws -> Int {
        guard let dealer else {
            return Int(try connection.row("SELECT COUNT(*) AS n FROM customer")?.value("n", as: Int64.self) ?? 0)
        }
        return Int(
            try connection.row("SELECT accounts FROM dealer_account_count WHERE dealer_id = \(dealer)")?.value("accounts", as: Int64.self)
                ?? 0)
    }

    func storedBytes() throws -> Int64 {
        let row =
            if let dealer {
                try connection.row("SELECT coalesce(SUM(bytes), 0)::BIGINT AS n FROM dealer_stored_bytes WHERE dealer_id = \(dealer)")
            } else {
                try connection.row("SELECT coalesce(SUM(bytes), 0)::BIGINT AS n FROM dealer_stored_bytes")
            }
        return try row?.value("n", as: Int64.self) ?? 0
    }

    // MARK: Responding parties

    func respondingParties(customerID: String) throws -> [RespondingParty] {
        let stored = key(customerID)
        var phones: [String: [Phone]] = [:]
        for row in try connection.rows("SELECT * FROM party_phone WHERE customer_id = \(stored) ORDER BY party_id, position") {
            phones[try row.value("party_id"), default: []].append(
                Phone(
                    number: try row.value("number"), type: PhoneType(rawValue: try row.uint32("type")),
                    extension: try row.value("extension")))
        }
        return try connection.rows("SELECT * FROM responding_party WHERE customer_id = \(stored) ORDER BY position").map { row in
            let id: String = try row.value("id")
            return RespondingParty(
                id: id, priority: try row.uint32("priority"), firstName: try row.value("first_name"), lastName: try row.value("last_name"),
                phones: phones[id] ?? [], email: try row.value("email"), language: try row.value("language"),
                passcode: try row.value("passcode"), hasKey: try row.value("has_key"), relation: try row.value("relation"),
                enhancedVerification: try row.value("enhanced_verification"), role: PartyRole(rawValue: try row.uint32("role")))
        }
    }

    func replaceRespondingParties(customerID: String, _ parties: [RespondingParty]) throws {
        let stored = key(customerID)
        pageChanges?.customerKeys.insert(stored)
        try connection.execute("DELETE FROM responding_party WHERE customer_id = \(stored)")
        for (position, party) in parties.enumerated() {
            try connection.execute(
                """
                INSERT INTO responding_party (customer_id, id, position, priority, first_name, last_name, email, language,
                    passcode, has_key, relation, enhanced_verification, role)
                VALUES (\(stored), \(party.id), \(Int64(position)), \(Int64(party.priority)), \(party.firstName), \(party.lastName),
                    \(party.email), \(party.language), \(party.passcode), \(party.hasKey), \(party.relation), \(party.enhancedVerification),
                    \(Int64(party.role.rawValue)))
                """)
            for (index, phone) in party.phones.enumerated() {
                try connection.execute(
                    """
                    INSERT INTO party_phone (customer_id, party_id, position, number, type, extension)
                    VALUES (\(stored), \(party.id), \(Int64(index)), \(phone.number), \(Int64(phone.type.rawValue)), \(phone.extension))
                    """)
            }
        }
    }

    // MARK: Links

    func link(customerID: String) throws -> AccountLink? {
        try connection.row(
            """
            SELECT account_link.*, station_account.receiver_number, station_account.line
            FROM account_link JOIN station_account ON station_account.account_number = account_link.account_number
            WHERE account_link.customer_id = \(key(customerID))
            """
        ).map(link)
    }

    func link(accountNumber: String) throws -> AccountLink? {
        // The station account's key carries the dealer: another dealer's number finds nothing.
        try connection.row(
            """
            SELECT account_link.*, station_account.receiver_number, station_account.line
            FROM account_link JOIN station_account ON station_account.account_number = account_link.account_number
            WHERE station_account.account_key = \(key(accountNumber))
            ORDER BY account_link.state = 1 DESC, account_link.linked_at DESC LIMIT 1
            """
        ).map(link)
    }

    func stationLine(accountNumber: String) throws -> (receiverNumber: String, line: String)? {
        try connection.row("SELECT receiver_number, line FROM station_account WHERE account_key = \(key(accountNumber))").map {
            (try $0.value("receiver_number"), try $0.value("line"))
        }
    }

    func isAccountNumberTaken(_ accountNumber: String) throws -> Bool {
        try connection.row("SELECT EXISTS (SELECT 1 FROM station_account WHERE account_number = \(accountNumber)) AS taken")?
            .value("taken") ?? false
    }

    func saveLink(_ link: AccountLink) throws {
        let stored = key(link.customerID)
        let accountKey = key(link.accountNumber)
        // The receiver and line belong to the number: the customer linked to it shows them.
        pageChanges?.customerKeys.insert(stored)
        pageChanges?.accountKeys.insert(accountKey)
        try connection.execute(
            """
            INSERT INTO station_account (account_key, account_number, dealer_id, receiver_number, line)
            VALUES (\(accountKey), \(link.accountNumber), \(Self.dealer(ofKey: stored)), \(link.receiverNumber), \(link.line))
            ON CONFLICT (account_key) DO UPDATE SET receiver_number = excluded.receiver_number, line = excluded.line
            """)
        try connection.execute(
            """
            INSERT INTO account_link (customer_id, account_number, state, linked_at, unlinked_at)
            VALUES (\(stored), \(link.accountNumber), \(Int64(link.state.rawValue)), \(link.linkedAtMs), \(link.unlinkedAtMs))
            ON CONFLICT (customer_id) DO UPDATE SET account_number = excluded.account_number, state = excluded.state,
                linked_at = excluded.linked_at, unlinked_at = excluded.unlinked_at
            """)
    }

    // MARK: Authorities

    func authority(id: String) throws -> Authority? {
        guard let row = try connection.row("SELECT * FROM authority WHERE id = \(id)") else { return nil }
        return try authority(row)
    }

    func authorities(type: AuthorityType, zip: String) throws -> [Authority] {
        try connection.rows(
            """
            SELECT authority.* FROM authority_zip JOIN authority ON authority.id = authority_zip.authority_id
            WHERE authority_zip.zip = \(zip) AND authority.type = \(Int64(type.rawValue)) ORDER BY authority.name, authority.id
            """
        ).map(authority)
    }

    func saveAuthorities(_ authorities: [Authority]) throws {
        for authority in authorities {
            pageChanges?.authorityIDs.insert(authority.id)
            if let attached = try connection.row(
                """
                SELECT type, count(*) AS accounts FROM account_authority
                WHERE authority_id = \(authority.id) AND type <> \(Int64(authority.type.rawValue)) GROUP BY type LIMIT 1
                """)
            {
                throw AccountError.typeChange(
                    of: authority, from: AuthorityType(rawValue: try attached.uint32("type")),
                    onAccounts: Int(try attached.value("accounts", as: Int64.self)))
            }
            let address = authority.address ?? Address()
            try connection.execute(
                """
                INSERT INTO authority (id, type, name, phone, has_address, street1, street2, city, state, zip, jurisdiction, permit_required)
                VALUES (\(authority.id), \(Int64(authority.type.rawValue)), \(authority.name), \(authority.phone), \(authority.address != nil),
                    \(address.street1), \(address.street2), \(address.city), \(address.state), \(address.zip),
                    \(Int64(authority.jurisdiction.rawValue)), \(authority.permitRequired))
                ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, phone = excluded.phone,
                    has_address = excluded.has_address, street1 = excluded.street1, street2 = excluded.street2,
                    city = excluded.city, state = excluded.state, zip = excluded.zip, jurisdiction = excluded.jurisdiction,
                    permit_required = excluded.permit_required
                """)
            try connection.execute("DELETE FROM authority_zip WHERE authority_id = \(authority.id)")
            for zip in Set(authority.servedZips) {
                try connection.execute("INSERT INTO authority_zip (zip, authority_id) VALUES (\(zip), \(authority.id))")
            }
        }
    }

    func accountAuthorities(accountNumber: String) throws -> [AccountAuthority] {
        try connection.rows("SELECT * FROM account_authority WHERE account_key = \(key(accountNumber)) ORDER BY added_at, id").map { row in
            AccountAuthority(
                id: try row.value("id"), authority: try authority(id: try row.value("authority_id")),
                permitNumber: try row.value("permit_number"), addedAtMs: try row.value("added_at"), addedBy: try row.value("added_by"))
        }
    }

    func insertAccountAuthority(accountNumber: String, _ entry: AccountAuthority) throws {
        let accountKey = key(accountNumber)
        pageChanges?.authorityAccountKeys.insert(accountKey)
        try connection.execute(
            """
            INSERT INTO account_authority (id, account_key, authority_id, type, permit_number, added_at, added_by)
            VALUES (\(entry.id), \(accountKey), \(entry.authority?.id ?? ""), \(Int64(entry.authority?.type.rawValue ?? 0)),
                \(entry.permitNumber), \(entry.addedAtMs), \(entry.addedBy))
            """)
    }

    func deleteAccountAuthority(accountNumber: String, id: String) throws {
        let accountKey = key(accountNumber)
        pageChanges?.authorityAccountKeys.insert(accountKey)
        try connection.execute("DELETE FROM account_authority WHERE account_key = \(accountKey) AND id = \(id)")
    }

    // MARK: Zones

    func zones(accountNumber: String) throws -> [Zone] {
        try connection.rows("SELECT * FROM zone WHERE account_key = \(key(accountNumber)) ORDER BY zone_number").map { row in
            Zone(
                zoneNumber: try row.value("zone_number"), description: try row.value("description"),
                eventType: ZoneEventType(rawValue: try row.uint32("event_type")), equipmentType: try row.value("equipment_type"),
                location: try row.value("location"), partition: try row.uint32("partition"),
                restoreRequired: try row.value("restore_required"))
        }
    }

    func zoneDescription(accountNumber: String, customerID: String, zoneNumber: String) throws -> String? {
        try connection.row(
            """
            SELECT coalesce(
                (SELECT description FROM zone WHERE account_key = \(key(accountNumber)) AND zone_number = \(zoneNumber)),
                (SELECT zone_description FROM equipment WHERE customer_id = \(key(customerID)) AND zone_number = \(zoneNumber) LIMIT 1)
            ) AS description
            """
        ).flatMap { try $0.value("description", as: String?.self) }
    }

    func replaceZones(accountNumber: String, _ zones: [Zone]) throws {
        let accountKey = key(accountNumber)
        pageChanges?.accountKeys.insert(accountKey)
        try connection.execute("DELETE FROM zone WHERE account_key = \(accountKey)")
        for zone in zones {
            try connection.execute(
                """
                INSERT INTO zone (account_key, zone_number, description, event_type, equipment_type, location, partition, restore_required)
                VALUES (\(accountKey), \(zone.zoneNumber), \(zone.description), \(Int64(zone.eventType.rawValue)), \(zone.equipmentType),
                    \(zone.location), \(Int64(zone.partition)), \(zone.restoreRequired))
                """)
        }
    }

    // MARK: Test categories and sessions

    func testCategories() throws -> [TestCategory] {
        try connection.rows("SELECT * FROM test_category ORDER BY position").map(Self.category)
    }

    func testCategory(id: String) throws -> TestCategory? {
        try connection.row("SELECT * FROM test_category WHERE id = \(id)").map(Self.category)
    }

    func saveTestCategories(_ categories: [TestCategory]) throws {
        for category in categories {
            pageChanges?.categoryIDs.insert(category.id)
            try connection.execute(
                """
                INSERT INTO test_category (id, description, default_minutes)
                VALUES (\(category.id), \(category.description), \(Int64(category.defaultDurationMinutes)))
                ON CONFLICT (id) DO UPDATE SET description = excluded.description, default_minutes = excluded.default_minutes
                """)
        }
    }

    func openSession(accountNumber: String) throws -> TestSession? {
        try openSession(accountKey: key(accountNumber))
    }

    /// The open session of the account stored under `accountKey`.
    func openSession(accountKey: String) throws -> TestSession? {
        try connection.row(
            """
            SELECT test_session.*, test_category.description AS category_description, test_category.default_minutes AS category_minutes
            FROM test_session JOIN test_category ON test_category.id = test_session.category_id
            WHERE test_session.account_key = \(accountKey) AND test_session.ended_at IS NULL
            """
        ).map(Self.session)
    }

    func sessionActive(accountNumber: String, atMs: Int64) throws -> TestSession? {
        try connection.row(
            """
            SELECT test_session.*, test_category.description AS category_description, test_category.default_minutes AS category_minutes
            FROM test_session JOIN test_category ON test_category.id = test_session.category_id
            WHERE test_session.account_key = \(key(accountNumber)) AND test_session.effective_at <= \(atMs)
                AND test_session.expires_at > \(atMs) AND (test_session.ended_at IS NULL OR test_session.ended_at > \(atMs))
            ORDER BY test_session.effective_at DESC LIMIT 1
            """
        ).map(Self.session)
    }

    func sessionsDue(atMs: Int64) throws -> [(accountNumber: String, session: TestSession)] {
        try connection.rows(
            """
            SELECT test_session.*, test_category.description AS category_description, test_category.default_minutes AS category_minutes
            FROM test_session JOIN test_category ON test_category.id = test_session.category_id
            WHERE test_session.ended_at IS NULL AND test_session.expires_at <= \(atMs)
            """
        ).compactMap { row in
            let stored: String = try row.value("account_key")
            if let dealer, !stored.hasPrefix(dealer + "/") { return nil }
            return (externalID(stored), try Self.session(row))
        }
    }

    func nextExpiry() throws -> Int64? {
        try connection.row("SELECT MIN(expires_at) AS next FROM test_session WHERE ended_at IS NULL")?.value("next", as: Int64?.self)
    }

    func insertSession(accountNumber: String, _ session: TestSession) throws {
        let accountKey = key(accountNumber)
        pageChanges?.sessionAccountKeys.insert(accountKey)
        try connection.execute(
            """
            INSERT INTO test_session (id, account_key, category_id, effective_at, expires_at, scope, zone_numbers, comment,
                has_placed_by, placed_by_id, placed_by_name, has_authorization, authorized_party_id, verified_by, ended_at, end_reason)
            VALUES (\(session.id), \(accountKey), \(session.category?.id ?? ""), \(session.effectiveAtMs), \(session.expiresAtMs),
                \(Int64(session.scope.rawValue)), \(session.zoneNumbers.joined(separator: ",")), \(session.comment),
                \(session.placedBy != nil), \(session.placedBy?.id ?? ""), \(session.placedBy?.name ?? ""),
                \(session.authorizedBy != nil), \(session.authorizedBy?.respondingPartyID ?? ""), \(session.authorizedBy?.verifiedBy ?? ""),
                NULL, 0)
            """)
    }

    func endSession(id: String, atMs: Int64, reason: TestEndReason) throws {
        let ended = try connection.rows(
            """
            UPDATE test_session SET ended_at = \(atMs), end_reason = \(Int64(reason.rawValue))
            WHERE id = \(id) AND ended_at IS NULL RETURNING account_key
            """
        ).map { try $0.value("account_key", as: String.self) }
        pageChanges?.sessionAccountKeys.formUnion(ended)
    }

    // MARK: History and signals

    func appendHistory(accountNumber: String, _ entry: TestHistoryEntry) throws {
        try connection.execute(
            """
            INSERT INTO test_history (account_key, at, action, session_id, has_category, category_id, category_description,
                category_minutes, effective_at, expires_at, has_user, user_id, user_name, comment, message)
            VALUES (\(key(accountNumber)), \(entry.atMs), \(Int64(entry.action.rawValue)), \(entry.sessionID), \(entry.category != nil),
                \(entry.category?.id ?? ""), \(entry.category?.description ?? ""), \(Int64(entry.category?.defaultDurationMinutes ?? 0)),
                \(entry.effectiveAtMs), \(entry.expiresAtMs), \(entry.user != nil), \(entry.user?.id ?? ""), \(entry.user?.name ?? ""),
                \(entry.comment), \(entry.serializedBytes().byteBuffer))
            """)
    }

    func testHistory(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestHistoryEntry)]
    {
        let keys = PageKeyset(fromMs: fromMs, toMs: toMs, after: cursor)
        return try connection.rows(
            """
            SELECT * FROM test_history
            WHERE account_key = \(key(accountNumber)) AND at BETWEEN \(keys.lowerMs) AND \(keys.toMs)
                AND (at > \(keys.afterAtMs) OR (at = \(keys.afterAtMs) AND row_id > \(keys.afterRowID)))
            ORDER BY at, row_id LIMIT \(Int64(max(0, limit)))
            """
        ).map { row in (PageCursor(atMs: try row.value("at"), rowID: try row.value("row_id")), try Self.historyEntry(row)) }
    }

    static func historyEntry(_ row: PostgresRandomAccessRow) throws -> TestHistoryEntry {
        let category: TestCategory? =
            try row.value("has_category")
            ? TestCategory(
                id: try row.value("category_id"), description: try row.value("category_description"),
                defaultDurationMinutes: try row.uint32("category_minutes")) : nil
        let user: UserRef? = try row.value("has_user") ? UserRef(id: try row.value("user_id"), name: try row.value("user_name")) : nil
        return TestHistoryEntry(
            atMs: try row.value("at"), action: TestHistoryAction(rawValue: try row.uint32("action")),
            sessionID: try row.value("session_id"),
            category: category, effectiveAtMs: try row.value("effective_at"), expiresAtMs: try row.value("expires_at"), user: user,
            comment: try row.value("comment"))
    }

    func insertSignal(_ signal: SignalRecord) throws {
        let result = signal.result
        try connection.execute(
            """
            INSERT INTO signal (account_key, is_test_result, received_at, account_number, zone_number, zone_description,
                event_code, qualifier, event_description, user_number, partition, raw, session_id, message)
            VALUES (\(key(signal.accountNumber)), \(signal.isTestResult), \(result.receivedAtMs), \(result.accountNumber),
                \(result.zoneNumber), \(result.zoneDescription), \(result.eventCode), \(Int64(result.qualifier)), \(result.eventDescription),
                \(result.userNumber), \(Int64(result.partition)), \(result.rawMessage), \(result.sessionID),
                \(result.serializedBytes().byteBuffer))
            """)
    }

    func testResults(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestResult)]
    {
        try signals(accountNumber: accountNumber, testResults: true, fromMs: fromMs, toMs: toMs, after: cursor, limit: limit)
    }

    func signalHistory(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestResult)]
    {
        try signals(accountNumber: accountNumber, testResults: false, fromMs: fromMs, toMs: toMs, after: cursor, limit: limit)
    }

    /// Test results or signal history, both served by the `signal_by_account` index.
    private func signals(
        accountNumber: String, testResults: Bool, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestResult)]
    {
        let keys = PageKeyset(fromMs: fromMs, toMs: toMs, after: cursor)
        return try connection.rows(
            """
            SELECT * FROM signal
            WHERE account_key = \(key(accountNumber)) AND is_test_result = \(testResults) AND received_at BETWEEN \(keys.lowerMs) AND \(keys.toMs)
                AND (received_at > \(keys.afterAtMs) OR (received_at = \(keys.afterAtMs) AND row_id > \(keys.afterRowID)))
            ORDER BY received_at, row_id LIMIT \(Int64(max(0, limit)))
            """
        ).map { row in (PageCursor(atMs: try row.value("received_at"), rowID: try row.value("row_id")), try Self.testResult(row)) }
    }

    static func testResult(_ row: PostgresRandomAccessRow) throws -> TestResult {
        TestResult(
            receivedAtMs: try row.value("received_at"), accountNumber: try row.value("account_number"),
            zoneNumber: try row.value("zone_number"), zoneDescription: try row.value("zone_description"),
            eventCode: try row.value("event_code"), qualifier: try row.uint32("qualifier"),
            eventDescription: try row.value("event_description"), userNumber: try row.value("user_number"),
            partition: try row.uint32("partition"), rawMessage: try row.value("raw"), sessionID: try row.value("session_id"))
    }

    // MARK: Idempotency

    func idempotencyRecord(requestID: String) throws -> IdempotencyRecord? {
        try connection.row("SELECT * FROM idempotency WHERE request_id = \(key(requestID))").map { row in
            IdempotencyRecord(
                requestID: externalID(try row.value("request_id")), method: try row.value("method"),
                fingerprint: UInt64(bitPattern: try row.value("fingerprint")), response: try row.bytes("response"),
                createdAtMs: try row.value("created_at"))
        }
    }

    /// Replaces a record past its retention (the protocol's contract). Two instances saving one new request id at
    /// once still give one answer: under SERIALIZABLE the second's ON CONFLICT meets a row its snapshot cannot see,
    /// which PostgreSQL refuses as a serialization failure, and the write run again replays the first's answer.
    func saveIdempotencyRecord(_ record: IdempotencyRecord) throws {
        try connection.execute(
            """
            INSERT INTO idempotency (request_id, method, fingerprint, response, created_at)
            VALUES (\(key(record.requestID)), \(record.method), \(Int64(bitPattern: record.fingerprint)), \(record.response.byteBuffer),
                \(record.createdAtMs))
            ON CONFLICT (request_id) DO UPDATE SET method = excluded.method, fingerprint = excluded.fingerprint,
                response = excluded.response, created_at = excluded.created_at
            """)
    }

    // MARK: Row mapping

    private static func address(_ row: PostgresRandomAccessRow) throws -> Address? {
        guard try row.value("has_address", as: Bool.self) else { return nil }
        return Address(
            street1: try row.value("street1"), street2: try row.value("street2"), city: try row.value("city"),
            state: try row.value("state"),
            zip: try row.value("zip"))
    }

    private func link(_ row: PostgresRandomAccessRow) throws -> AccountLink {
        AccountLink(
            customerID: externalID(try row.value("customer_id")), accountNumber: try row.value("account_number"),
            receiverNumber: try row.value("receiver_number"), line: try row.value("line"),
            state: LinkState(rawValue: try row.uint32("state")),
            linkedAtMs: try row.value("linked_at"), unlinkedAtMs: try row.value("unlinked_at"))
    }

    private static func category(_ row: PostgresRandomAccessRow) throws -> TestCategory {
        TestCategory(
            id: try row.value("id"), description: try row.value("description"), defaultDurationMinutes: try row.uint32("default_minutes"))
    }

    private func authority(_ row: PostgresRandomAccessRow) throws -> Authority {
        let id: String = try row.value("id")
        let zips = try connection.rows("SELECT zip FROM authority_zip WHERE authority_id = \(id) ORDER BY zip").map {
            try $0.value("zip", as: String.self)
        }
        return Authority(
            id: id, type: AuthorityType(rawValue: try row.uint32("type")), name: try row.value("name"), phone: try row.value("phone"),
            address: try Self.address(row), servedZips: zips, jurisdiction: Jurisdiction(rawValue: try row.uint32("jurisdiction")),
            permitRequired: try row.value("permit_required"))
    }

    private static func session(_ row: PostgresRandomAccessRow) throws -> TestSession {
        let zones: String = try row.value("zone_numbers")
        let endedAt: Int64? = try row.value("ended_at")
        return TestSession(
            id: try row.value("id"),
            category: TestCategory(
                id: try row.value("category_id"), description: try row.value("category_description"),
                defaultDurationMinutes: try row.uint32("category_minutes")),
            effectiveAtMs: try row.value("effective_at"), expiresAtMs: try row.value("expires_at"),
            scope: TestScope(rawValue: try row.uint32("scope")),
            zoneNumbers: zones.isEmpty ? [] : zones.split(separator: ",").map(String.init), comment: try row.value("comment"),
            placedBy: try row.value("has_placed_by")
                ? UserRef(id: try row.value("placed_by_id"), name: try row.value("placed_by_name")) : nil,
            authorizedBy: try row.value("has_authorization")
                ? TestAuthorization(respondingPartyID: try row.value("authorized_party_id"), verifiedBy: try row.value("verified_by"))
                : nil,
            endedAtMs: endedAt ?? 0, endReason: TestEndReason(rawValue: try row.uint32("end_reason")))
    }
}
