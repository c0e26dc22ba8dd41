import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import Foundation
import GRDB

/// One transaction's view of the database: SQL stays in this file and the schema.
///
/// Customers are stored under a key that starts with their dealer's id (`dealer/customer`), and central-station
/// accounts likewise (`dealer/accountNumber`), so that every query of a dealer-scoped transaction only reaches that
/// dealer's rows: another dealer's customer id or account number names a different key, and looks exactly like a
/// missing one. Ids and numbers go in and come out unprefixed.
struct SQLiteTransaction: AccountWriteTransaction {
    let db: Database
    /// The dealer this transaction sees, or nil for the server's own work across dealers (test expiry), which
    /// passes and gets storage keys as they are.
    let dealer: String?
    /// What this write transaction changed that account pages show; nil in read transactions.
    let pageChanges: AccountPageChanges?

    init(db: Database, scope: StoreScope, pageChanges: AccountPageChanges? = nil) {
        self.db = db
        self.pageChanges = pageChanges
        switch scope {
        case .dealer(let id): dealer = id
        case .allDealers: dealer = nil
        }
    }

    /// The storage key of a customer id, an account number or a request id (all three are per dealer).
    func key(_ customerID: String) -> String {
        guard let dealer else { return customerID }
        return dealer + "/" + customerID
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
        guard let row = try db.cachedRow(sql: "SELECT * FROM customer WHERE id = ?", arguments: [key(id)]) else { return nil }
        let equipment = try db.cachedRows(
            sql: "SELECT * FROM equipment WHERE customer_id = ? ORDER BY position", arguments: [key(id)]
        ).map { row in
            Equipment(
                id: row["id"], name: row["name"], zoneNumber: row["zone_number"], zoneDescription: row["zone_description"],
                installed: row["installed"])
        }
        return Customer(
            id: externalID(row["id"]), firstName: row["first_name"], lastName: row["last_name"], companyName: row["company_name"],
            address: Self.address(row), premisePhone: row["premise_phone"], passcode: row["passcode"], equipment: equipment)
    }

    func saveCustomer(_ customer: Customer) throws {
        let address = customer.address ?? Address()
        let stored = key(customer.id)
        pageChanges?.customerKeys.insert(stored)
        var upsert = try SQLiteStatementRun(
            db,
            """
            INSERT INTO customer (id, dealer_id, first_name, last_name, company_name, has_address, street1, street2, city,
                state, zip, premise_phone, passcode)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
                company_name = excluded.company_name, has_address = excluded.has_address, street1 = excluded.street1,
                street2 = excluded.street2, city = excluded.city, state = excluded.state, zip = excluded.zip,
                premise_phone = excluded.premise_phone, passcode = excluded.passcode
            """)
        upsert.bind(stored)
        upsert.bind(Self.dealer(ofKey: stored))
        upsert.bind(customer.firstName)
        upsert.bind(customer.lastName)
        upsert.bind(customer.companyName)
        upsert.bind(customer.address != nil)
        upsert.bind(address.street1)
        upsert.bind(address.street2)
        upsert.bind(address.city)
        upsert.bind(address.state)
        upsert.bind(address.zip)
        upsert.bind(customer.premisePhone)
        upsert.bind(customer.passcode)
        try upsert.execute()
        var delete = try SQLiteStatementRun(db, "DELETE FROM equipment WHERE customer_id = ?")
        delete.bind(stored)
        try delete.execute()
        for (position, item) in customer.equipment.enumerated() {
            var insert = try SQLiteStatementRun(
                db,
                "INSERT INTO equipment (customer_id, position, id, name, zone_number, zone_description, installed) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            insert.bind(stored)
            insert.bind(position)
            insert.bind(item.id)
            insert.bind(item.name)
            insert.bind(item.zoneNumber)
            insert.bind(item.zoneDescription)
            insert.bind(item.installed)
            try insert.execute()
        }
    }

    func customerCount() throws -> Int {
        guard let dealer else { return try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM customer") ?? 0 }
        return try db.cachedValue(Int.self, sql: "SELECT accounts FROM dealer_account_count WHERE dealer_id = ?", arguments: [dealer]) ?? 0
    }

    func storedBytes() throws -> Int64 {
        guard let dealer else { return try db.cachedValue(Int64.self, sql: "SELECT SUM(bytes) FROM dealer_stored_bytes") ?? 0 }
        return try db.cachedValue(Int64.self, sql: "SELECT bytes FROM dealer_stored_bytes WHERE dealer_id = ?", arguments: [dealer]) ?? 0
    }

    // MARK: Responding parties

    func respondingParties(customerID: String) throws -> [RespondingParty] {
        var phones: [String: [Phone]] = [:]
        for row in try db.cachedRows(
            sql: "SELECT * FROM party_phone WHERE customer_id = ? ORDER BY party_id, position", arguments: [key(customerID)])
        {
            phones[row["party_id"], default: []].append(
                Phone(number: row["number"], type: PhoneType(rawValue: row["type"]), extension: row["extension"]))
        }
        return try db.cachedRows(
            sql: "SELECT * FROM responding_party WHERE customer_id = ? ORDER BY position", arguments: [key(customerID)]
        ).map { row in
            let id: String = row["id"]
            return RespondingParty(
                id: id, priority: row["priority"], firstName: row["first_name"], lastName: row["last_name"], phones: phones[id] ?? [],
                email: row["email"], language: row["language"], passcode: row["passcode"], hasKey: row["has_key"],
                relation: row["relation"], enhancedVerification: row["enhanced_verification"], role: PartyRole(rawValue: row["role"]))
        }
    }

    func replaceRespondingParties(customerID: String, _ parties: [RespondingParty]) throws {
        let customerID = key(customerID)
        pageChanges?.customerKeys.insert(customerID)
        var delete = try SQLiteStatementRun(db, "DELETE FROM responding_party WHERE customer_id = ?")
        delete.bind(customerID)
        try delete.execute()
        for (position, party) in parties.enumerated() {
            var insert = try SQLiteStatementRun(
                db,
                """
                INSERT INTO responding_party (customer_id, id, position, priority, first_name, last_name, email, language,
                    passcode, has_key, relation, enhanced_verification, role)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            insert.bind(customerID)
            insert.bind(party.id)
            insert.bind(position)
            insert.bind(party.priority)
            insert.bind(party.firstName)
            insert.bind(party.lastName)
            insert.bind(party.email)
            insert.bind(party.language)
            insert.bind(party.passcode)
            insert.bind(party.hasKey)
            insert.bind(party.relation)
            insert.bind(party.enhancedVerification)
            insert.bind(party.role)
            try insert.execute()
            for (index, phone) in party.phones.enumerated() {
                var insertPhone = try SQLiteStatementRun(
                    db, "INSERT INTO party_phone (customer_id, party_id, position, number, type, extension) VALUES (?, ?, ?, ?, ?, ?)")
                insertPhone.bind(customerID)
                insertPhone.bind(party.id)
                insertPhone.bind(index)
                insertPhone.bind(phone.number)
                insertPhone.bind(phone.type)
                insertPhone.bind(phone.extension)
                try insertPhone.execute()
            }
        }
    }

    // MARK: Links

    private static let linkColumns = """
        account_link.*, station_account.receiver_number, station_account.line
        FROM account_link JOIN station_account ON station_account.account_number = account_link.account_number
        """

    /// On the path of every write to a linked account: through the C API (`SQLiteStatementRun`).
    func link(customerID: String) throws -> AccountLink? {
        var run = try SQLiteStatementRun(
            db,
            """
            SELECT account_link.account_number, station_account.receiver_number, station_account.line, account_link.state,
                account_link.linked_at, account_link.unlinked_at
            FROM account_link JOIN station_account ON station_account.account_number = account_link.account_number
            WHERE account_link.customer_id = ?
            """)
        run.bind(key(customerID))
        guard try run.step() else { return nil }
        return AccountLink(
            customerID: customerID, accountNumber: run.string(0), receiverNumber: run.string(1), line: run.string(2),
            state: run.protoEnum(3), linkedAtMs: run.int64(4), unlinkedAtMs: run.int64(5))
    }

    func link(accountNumber: String) throws -> AccountLink? {
        // The station account's key carries the dealer: another dealer's number finds nothing.
        try db.cachedRow(
            sql: """
                SELECT \(Self.linkColumns) WHERE station_account.account_key = ?
                ORDER BY account_link.state = 1 DESC, account_link.linked_at DESC LIMIT 1
                """,
            arguments: [key(accountNumber)]
        ).map(link)
    }

    func stationLine(accountNumber: String) throws -> (receiverNumber: String, line: String)? {
        try db.cachedRow(sql: "SELECT receiver_number, line FROM station_account WHERE account_key = ?", arguments: [key(accountNumber)])
            .map { ($0["receiver_number"], $0["line"]) }
    }

    func isAccountNumberTaken(_ accountNumber: String) throws -> Bool {
        try db.cachedValue(
            Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM station_account WHERE account_number = ?)", arguments: [accountNumber])
            ?? false
    }

    func saveLink(_ link: AccountLink) throws {
        let stored = key(link.customerID)
        // The receiver and line belong to the number: the customer linked to it shows them.
        pageChanges?.customerKeys.insert(stored)
        pageChanges?.accountKeys.insert(key(link.accountNumber))
        var station = try SQLiteStatementRun(
            db,
            """
            INSERT INTO station_account (account_key, account_number, dealer_id, receiver_number, line) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(account_key) DO UPDATE SET receiver_number = excluded.receiver_number, line = excluded.line
            """)
        station.bind(key(link.accountNumber))
        station.bind(link.accountNumber)
        station.bind(Self.dealer(ofKey: stored))
        station.bind(link.receiverNumber)
        station.bind(link.line)
        try station.execute()
        var upsert = try SQLiteStatementRun(
            db,
            """
            INSERT INTO account_link (customer_id, account_number, state, linked_at, unlinked_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(customer_id) DO UPDATE SET account_number = excluded.account_number, state = excluded.state,
                linked_at = excluded.linked_at, unlinked_at = excluded.unlinked_at
            """)
        upsert.bind(stored)
        upsert.bind(link.accountNumber)
        upsert.bind(link.state)
        upsert.bind(link.linkedAtMs)
        upsert.bind(link.unlinkedAtMs)
        try upsert.execute()
    }

    // MARK: Authorities

    func authority(id: String) throws -> Authority? {
        guard let row = try db.cachedRow(sql: "SELECT * FROM authority WHERE id = ?", arguments: [id]) else { return nil }
        return try authority(row)
    }

    func authorities(type: AuthorityType, zip: String) throws -> [Authority] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT authority.* FROM authority_zip JOIN authority ON authority.id = authority_zip.authority_id
                WHERE authority_zip.zip = ? AND authority.type = ? ORDER BY authority.name, authority.id
                """,
            arguments: [zip, type.rawValue]
        ).map(authority)
    }

    func saveAuthorities(_ authorities: [Authority]) throws {
        for authority in authorities {
            pageChanges?.authorityIDs.insert(authority.id)
            var attached = try SQLiteStatementRun(
                db, "SELECT type, count(*) FROM account_authority WHERE authority_id = ? AND type <> ? GROUP BY type LIMIT 1")
            attached.bind(authority.id)
            attached.bind(authority.type)
            if try attached.step() {
                throw AccountError.typeChange(
                    of: authority, from: AuthorityType(rawValue: attached.uint32(0)), onAccounts: attached.int(1))
            }
            let address = authority.address ?? Address()
            try db.executeCached(
                sql: """
                    INSERT INTO authority (id, type, name, phone, has_address, street1, street2, city, state, zip, jurisdiction, permit_required)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET type = excluded.type, name = excluded.name, phone = excluded.phone,
                        has_address = excluded.has_address, street1 = excluded.street1, street2 = excluded.street2,
                        city = excluded.city, state = excluded.state, zip = excluded.zip, jurisdiction = excluded.jurisdiction,
                        permit_required = excluded.permit_required
                    """,
                arguments: [
                    authority.id, authority.type.rawValue, authority.name, authority.phone, authority.address != nil, address.street1,
                    address.street2, address.city, address.state, address.zip, authority.jurisdiction.rawValue, authority.permitRequired
                ])
            try db.executeCached(sql: "DELETE FROM authority_zip WHERE authority_id = ?", arguments: [authority.id])
            for zip in Set(authority.servedZips) {
                try db.executeCached(sql: "INSERT INTO authority_zip (zip, authority_id) VALUES (?, ?)", arguments: [zip, authority.id])
            }
        }
    }

    func accountAuthorities(accountNumber: String) throws -> [AccountAuthority] {
        try db.cachedRows(
            sql: "SELECT * FROM account_authority WHERE account_key = ? ORDER BY added_at, id", arguments: [key(accountNumber)]
        ).map { row in
            AccountAuthority(
                id: row["id"], authority: try authority(id: row["authority_id"]), permitNumber: row["permit_number"],
                addedAtMs: row["added_at"], addedBy: row["added_by"])
        }
    }

    func insertAccountAuthority(accountNumber: String, _ entry: AccountAuthority) throws {
        pageChanges?.authorityAccountKeys.insert(key(accountNumber))
        try db.executeCached(
            sql: """
                INSERT INTO account_authority (id, account_key, authority_id, type, permit_number, added_at, added_by)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                entry.id, key(accountNumber), entry.authority?.id ?? "", entry.authority?.type.rawValue ?? 0, entry.permitNumber,
                entry.addedAtMs, entry.addedBy
            ])
    }

    func deleteAccountAuthority(accountNumber: String, id: String) throws {
        pageChanges?.authorityAccountKeys.insert(key(accountNumber))
        try db.executeCached(sql: "DELETE FROM account_authority WHERE account_key = ? AND id = ?", arguments: [key(accountNumber), id])
    }

    // MARK: Zones

    func zones(accountNumber: String) throws -> [Zone] {
        try db.cachedRows(sql: "SELECT * FROM zone WHERE account_key = ? ORDER BY zone_number", arguments: [key(accountNumber)]).map {
            row in
            Zone(
                zoneNumber: row["zone_number"], description: row["description"], eventType: ZoneEventType(rawValue: row["event_type"]),
                equipmentType: row["equipment_type"], location: row["location"], partition: row["partition"],
                restoreRequired: row["restore_required"])
        }
    }

    func zoneDescription(accountNumber: String, customerID: String, zoneNumber: String) throws -> String? {
        var run = try SQLiteStatementRun(
            db,
            """
            SELECT coalesce(
                (SELECT description FROM zone WHERE account_key = ?1 AND zone_number = ?3),
                (SELECT zone_description FROM equipment WHERE customer_id = ?2 AND zone_number = ?3 LIMIT 1))
            """)
        run.bind(key(accountNumber))
        run.bind(key(customerID))
        run.bind(zoneNumber)
        guard try run.step(), !run.isNull(0) else { return nil }
        return run.string(0)
    }

    func replaceZones(accountNumber: String, _ zones: [Zone]) throws {
        let accountKey = key(accountNumber)
        pageChanges?.accountKeys.insert(accountKey)
        try db.executeCached(sql: "DELETE FROM zone WHERE account_key = ?", arguments: [accountKey])
        for zone in zones {
            try db.executeCached(
                sql: """
                    INSERT INTO zone (account_key, zone_number, description, event_type, equipment_type, location, partition, restore_required)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    accountKey, zone.zoneNumber, zone.description, zone.eventType.rawValue, zone.equipmentType, zone.location,
                    zone.partition, zone.restoreRequired
                ])
        }
    }

    // MARK: Test categories and sessions

    func testCategories() throws -> [TestCategory] {
        try db.cachedRows(sql: "SELECT * FROM test_category ORDER BY rowid").map(Self.category)
    }

    func testCategory(id: String) throws -> TestCategory? {
        var run = try SQLiteStatementRun(db, "SELECT description, default_minutes FROM test_category WHERE id = ?")
        run.bind(id)
        guard try run.step() else { return nil }
        return TestCategory(id: id, description: run.string(0), defaultDurationMinutes: run.uint32(1))
    }

    func saveTestCategories(_ categories: [TestCategory]) throws {
        for category in categories {
            pageChanges?.categoryIDs.insert(category.id)
            try db.executeCached(
                sql: """
                    INSERT INTO test_category (id, description, default_minutes) VALUES (?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET description = excluded.description, default_minutes = excluded.default_minutes
                    """,
                arguments: [category.id, category.description, category.defaultDurationMinutes])
        }
    }

    static let sessionColumns = """
        test_session.*, test_category.description AS category_description, test_category.default_minutes AS category_minutes
        FROM test_session JOIN test_category ON test_category.id = test_session.category_id
        """

    func openSession(accountNumber: String) throws -> TestSession? {
        try Self.openSession(db, accountKey: key(accountNumber))
    }

    /// The open session of the account under `accountKey` (a storage key), read by column position: every
    /// PlaceOnTest and PlaceOffTest reads it, and the page refresh after them.
    static func openSession(_ db: Database, accountKey: String) throws -> TestSession? {
        var run = try SQLiteStatementRun(
            db,
            """
            SELECT test_session.id, test_session.category_id, test_category.description, test_category.default_minutes,
                test_session.effective_at, test_session.expires_at, test_session.scope, test_session.zone_numbers,
                test_session.comment, test_session.has_placed_by, test_session.placed_by_id, test_session.placed_by_name,
                test_session.has_authorization, test_session.authorized_party_id, test_session.verified_by,
                test_session.ended_at, test_session.end_reason
            FROM test_session JOIN test_category ON test_category.id = test_session.category_id
            WHERE test_session.account_key = ? AND test_session.ended_at IS NULL
            """)
        run.bind(accountKey)
        guard try run.step() else { return nil }
        let zones = run.string(7)
        return TestSession(
            id: run.string(0),
            category: TestCategory(id: run.string(1), description: run.string(2), defaultDurationMinutes: run.uint32(3)),
            effectiveAtMs: run.int64(4), expiresAtMs: run.int64(5), scope: run.protoEnum(6),
            zoneNumbers: zones.isEmpty ? [] : zones.split(separator: ",").map(String.init), comment: run.string(8),
            placedBy: run.bool(9) ? UserRef(id: run.string(10), name: run.string(11)) : nil,
            authorizedBy: run.bool(12) ? TestAuthorization(respondingPartyID: run.string(13), verifiedBy: run.string(14)) : nil,
            endedAtMs: run.int64(15), endReason: run.protoEnum(16))
    }

    func sessionActive(accountNumber: String, atMs: Int64) throws -> TestSession? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT \(Self.sessionColumns)
                WHERE test_session.account_key = ? AND test_session.effective_at <= ? AND test_session.expires_at > ?
                    AND (test_session.ended_at IS NULL OR test_session.ended_at > ?)
                ORDER BY test_session.effective_at DESC LIMIT 1
                """,
            arguments: [key(accountNumber), atMs, atMs, atMs]
        ).map(Self.session)
    }

    func sessionsDue(atMs: Int64) throws -> [(accountNumber: String, session: TestSession)] {
        try db.cachedRows(
            sql: "SELECT \(Self.sessionColumns) WHERE test_session.ended_at IS NULL AND test_session.expires_at <= ?",
            arguments: [atMs]
        ).compactMap { row in
            let stored: String = row["account_key"]
            if let dealer, !stored.hasPrefix(dealer + "/") { return nil }
            return (externalID(stored), Self.session(row))
        }
    }

    func nextExpiry() throws -> Int64? {
        try db.cachedValue(Int64.self, sql: "SELECT MIN(expires_at) FROM test_session WHERE ended_at IS NULL")
    }

    func insertSession(accountNumber: String, _ session: TestSession) throws {
        let accountKey = key(accountNumber)
        pageChanges?.sessionAccountKeys.insert(accountKey)
        var run = try SQLiteStatementRun(
            db,
            """
            INSERT INTO test_session (id, account_key, category_id, effective_at, expires_at, scope, zone_numbers, comment,
                has_placed_by, placed_by_id, placed_by_name, has_authorization, authorized_party_id, verified_by, ended_at, end_reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)
            """)
        run.bind(session.id)
        run.bind(accountKey)
        run.bind(session.category?.id ?? "")
        run.bind(session.effectiveAtMs)
        run.bind(session.expiresAtMs)
        run.bind(session.scope)
        run.bind(session.zoneNumbers.joined(separator: ","))
        run.bind(session.comment)
        run.bind(session.placedBy != nil)
        run.bind(session.placedBy?.id ?? "")
        run.bind(session.placedBy?.name ?? "")
        run.bind(session.authorizedBy != nil)
        run.bind(session.authorizedBy?.respondingPartyID ?? "")
        run.bind(session.authorizedBy?.verifiedBy ?? "")
        try run.execute()
    }

    func endSession(id: String, atMs: Int64, reason: TestEndReason) throws {
        var run = try SQLiteStatementRun(
            db, "UPDATE test_session SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL RETURNING account_key")
        run.bind(atMs)
        run.bind(reason)
        run.bind(id)
        while try run.step() { pageChanges?.sessionAccountKeys.insert(run.string(0)) }
    }

    // MARK: History and signals

    /// Stores the entry's columns and its encoding (`message`, what RequestTestData sends).
    func appendHistory(accountNumber: String, _ entry: TestHistoryEntry) throws {
        var run = try SQLiteStatementRun(
            db,
            """
            INSERT INTO test_history (account_key, at, action, session_id, has_category, category_id, category_description,
                category_minutes, effective_at, expires_at, has_user, user_id, user_name, comment, message)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        run.bind(key(accountNumber))
        run.bind(entry.atMs)
        run.bind(entry.action)
        run.bind(entry.sessionID)
        run.bind(entry.category != nil)
        run.bind(entry.category?.id ?? "")
        run.bind(entry.category?.description ?? "")
        run.bind(entry.category?.defaultDurationMinutes ?? 0)
        run.bind(entry.effectiveAtMs)
        run.bind(entry.expiresAtMs)
        run.bind(entry.user != nil)
        run.bind(entry.user?.id ?? "")
        run.bind(entry.user?.name ?? "")
        run.bind(entry.comment)
        run.bind(blob: entry.serializedBytes())
        try run.execute()
    }

    func testHistory(
        accountNumber: String, fromMs: Int64, toMs: Int64, after cursor: PageCursor?, limit: Int
    ) throws
        -> [(PageCursor, TestHistoryEntry)]
    {
        let keys = PageKeyset(fromMs: fromMs, toMs: toMs, after: cursor)
        return try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM test_history
                WHERE account_key = ? AND at BETWEEN ? AND ? AND (at > ? OR (at = ? AND row_id > ?))
                ORDER BY at, row_id LIMIT ?
                """,
            arguments: [key(accountNumber), keys.lowerMs, keys.toMs, keys.afterAtMs, keys.afterAtMs, keys.afterRowID, limit]
        ).map { row in (PageCursor(atMs: row["at"], rowID: row["row_id"]), Self.historyEntry(row)) }
    }

    /// Stores the signal's columns and the encoding of its `TestResult` (`message`, what RequestTestData sends).
    func insertSignal(_ signal: SignalRecord) throws {
        let result = signal.result
        try db.executeCached(
            sql: """
                INSERT INTO signal (account_key, is_test_result, received_at, account_number, zone_number, zone_description,
                    event_code, qualifier, event_description, user_number, partition, raw, session_id, message)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                key(signal.accountNumber), signal.isTestResult, result.receivedAtMs, result.accountNumber, result.zoneNumber,
                result.zoneDescription, result.eventCode, result.qualifier, result.eventDescription, result.userNumber,
                result.partition, result.rawMessage, result.sessionID, Data(result.serializedBytes())
            ])
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
        return try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM signal
                WHERE account_key = ? AND is_test_result = ? AND received_at BETWEEN ? AND ?
                    AND (received_at > ? OR (received_at = ? AND row_id > ?))
                ORDER BY received_at, row_id LIMIT ?
                """,
            arguments: [key(accountNumber), testResults, keys.lowerMs, keys.toMs, keys.afterAtMs, keys.afterAtMs, keys.afterRowID, limit]
        ).map { row in (PageCursor(atMs: row["received_at"], rowID: row["row_id"]), Self.testResult(row)) }
    }

    // MARK: Idempotency

    func idempotencyRecord(requestID: String) throws -> IdempotencyRecord? {
        try db.cachedRow(sql: "SELECT * FROM idempotency WHERE request_id = ?", arguments: [key(requestID)]).map { row in
            IdempotencyRecord(
                requestID: externalID(row["request_id"]), method: row["method"], fingerprint: UInt64(bitPattern: row["fingerprint"]),
                response: [UInt8](row["response"] as Data), createdAtMs: row["created_at"])
        }
    }

    func saveIdempotencyRecord(_ record: IdempotencyRecord) throws {
        try db.executeCached(
            sql: """
                INSERT INTO idempotency (request_id, method, fingerprint, response, created_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (request_id) DO UPDATE SET method = excluded.method, fingerprint = excluded.fingerprint,
                    response = excluded.response, created_at = excluded.created_at
                """,
            arguments: [
                key(record.requestID), record.method, Int64(bitPattern: record.fingerprint), Data(record.response), record.createdAtMs
            ])
    }

    // MARK: Row mapping

    private static func address(_ row: Row) -> Address? {
        guard row["has_address"] as Bool else { return nil }
        return Address(street1: row["street1"], street2: row["street2"], city: row["city"], state: row["state"], zip: row["zip"])
    }

    private func link(_ row: Row) -> AccountLink {
        AccountLink(
            customerID: externalID(row["customer_id"]), accountNumber: row["account_number"], receiverNumber: row["receiver_number"],
            line: row["line"], state: LinkState(rawValue: row["state"]), linkedAtMs: row["linked_at"], unlinkedAtMs: row["unlinked_at"])
    }

    /// A `test_history` row's entry, from its columns.
    static func historyEntry(_ row: Row) -> TestHistoryEntry {
        let category: TestCategory? =
            row["has_category"]
            ? TestCategory(
                id: row["category_id"], description: row["category_description"], defaultDurationMinutes: row["category_minutes"])
            : nil
        let user: UserRef? = row["has_user"] ? UserRef(id: row["user_id"], name: row["user_name"]) : nil
        return TestHistoryEntry(
            atMs: row["at"], action: TestHistoryAction(rawValue: row["action"]), sessionID: row["session_id"], category: category,
            effectiveAtMs: row["effective_at"], expiresAtMs: row["expires_at"], user: user, comment: row["comment"])
    }

    /// A `signal` row's result, from its columns.
    static func testResult(_ row: Row) -> TestResult {
        TestResult(
            receivedAtMs: row["received_at"], accountNumber: row["account_number"], zoneNumber: row["zone_number"],
            zoneDescription: row["zone_description"], eventCode: row["event_code"], qualifier: row["qualifier"],
            eventDescription: row["event_description"], userNumber: row["user_number"], partition: row["partition"],
            rawMessage: row["raw"], sessionID: row["session_id"])
    }

    private static func category(_ row: Row) -> TestCategory {
        TestCategory(id: row["id"], description: row["description"], defaultDurationMinutes: row["default_minutes"])
    }

    private func authority(_ row: Row) throws -> Authority {
        let id: String = row["id"]
        let zips = try db.cachedStrings(sql: "SELECT zip FROM authority_zip WHERE authority_id = ? ORDER BY zip", arguments: [id])
        return Authority(
            id: id, type: AuthorityType(rawValue: row["type"]), name: row["name"], phone: row["phone"], address: Self.address(row),
            servedZips: zips, jurisdiction: Jurisdiction(rawValue: row["jurisdiction"]), permitRequired: row["permit_required"])
    }

    static func session(_ row: Row) -> TestSession {
        let zones: String = row["zone_numbers"]
        let endedAt: Int64? = row["ended_at"]
        return TestSession(
            id: row["id"],
            category: TestCategory(
                id: row["category_id"], description: row["category_description"], defaultDurationMinutes: row["category_minutes"]),
            effectiveAtMs: row["effective_at"], expiresAtMs: row["expires_at"], scope: TestScope(rawValue: row["scope"]),
            zoneNumbers: zones.isEmpty ? [] : zones.split(separator: ",").map(String.init), comment: row["comment"],
            placedBy: row["has_placed_by"] ? UserRef(id: row["placed_by_id"], name: row["placed_by_name"]) : nil,
            authorizedBy: row["has_authorization"]
                ? TestAuthorization(respondingPartyID: row["authorized_party_id"], verifiedBy: row["verified_by"]) : nil,
            endedAtMs: endedAt ?? 0, endReason: TestEndReason(rawValue: row["end_reason"]))
    }
}

extension Database {
    // These go through the statement cache: compiling a statement costs more than running one of these small
    // queries, and every call of a method runs the same SQL text.

    func cachedRows(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedRow(sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedStrings(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [String] {
        try String.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedValue<Value: DatabaseValueConvertible & StatementColumnConvertible>(
        _ type: Value.Type, sql: String, arguments: StatementArguments = StatementArguments()
    ) throws -> Value? {
        try Value.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
