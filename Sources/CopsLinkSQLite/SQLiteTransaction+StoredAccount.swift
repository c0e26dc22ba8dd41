import CopsLinkAccounts
import CopsLinkMessages
import GRDB

/// GetAccount's read in five statements whatever the account holds (link with customer and open session,
/// equipment, zones, parties with their phones, authorities with their zips), where reading it part by part takes
/// eight plus two per authority.
///
/// Columns are named once in each SELECT and read by position: a name lookup per column per row cost more than the
/// query itself. Statements come from the connection's statement cache, so each is compiled once per connection.
/// Every statement is keyed by this transaction's storage keys (`key`), so the dealer boundary holds as in the
/// part-by-part reading, which this must equal (`storedAccountByParts`; tested).
extension SQLiteTransaction {
    func storedAccount(customerID: String) throws -> StoredAccount? {
        let customerKey = key(customerID)
        // The open session is joined by the account key computed as `key(accountNumber)` is: at most one row
        // (`test_session_open` is unique per account key).
        let head = try db.cachedStatement(
            sql: """
                SELECT account_link.account_number, station_account.receiver_number, station_account.line, account_link.state,
                    account_link.linked_at, account_link.unlinked_at,
                    customer.first_name, customer.last_name, customer.company_name, customer.has_address, customer.street1,
                    customer.street2, customer.city, customer.state, customer.zip, customer.premise_phone, customer.passcode,
                    test_session.id, test_category.id, test_category.description, test_category.default_minutes,
                    test_session.effective_at, test_session.expires_at, test_session.scope, test_session.zone_numbers,
                    test_session.comment, test_session.has_placed_by, test_session.placed_by_id, test_session.placed_by_name,
                    test_session.has_authorization, test_session.authorized_party_id, test_session.verified_by,
                    test_session.ended_at, test_session.end_reason
                FROM account_link
                JOIN station_account ON station_account.account_number = account_link.account_number
                JOIN customer ON customer.id = account_link.customer_id
                LEFT JOIN test_session ON test_session.account_key = ?2 || account_link.account_number AND test_session.ended_at IS NULL
                LEFT JOIN test_category ON test_category.id = test_session.category_id
                WHERE account_link.customer_id = ?1
                """)
        guard let row = try Row.fetchOne(head, arguments: [customerKey, dealer.map { $0 + "/" } ?? ""]) else { return nil }
        let link = AccountLink(
            customerID: customerID, accountNumber: row[0], receiverNumber: row[1], line: row[2], state: LinkState(rawValue: row[3]),
            linkedAtMs: row[4], unlinkedAtMs: row[5])
        var customer = Customer(
            id: customerID, firstName: row[6], lastName: row[7], companyName: row[8], address: Self.address(row, from: 9),
            premisePhone: row[15], passcode: row[16])
        let openSession = (row[18] as String?) == nil ? nil : Self.openSession(row, from: 17)
        customer.equipment = try equipment(customerKey: customerKey)
        let accountKey = key(link.accountNumber)
        let stored = StoredAccount(
            link: link, customer: customer, zones: try zones(accountKey: accountKey),
            respondingParties: try respondingParties(customerKey: customerKey),
            authorities: try accountAuthorities(accountKey: accountKey), openSession: openSession)
        // Read in its own dealer's scope, as a page is built: the page refresh after this write may use it.
        if let pageChanges, let dealer, Self.dealer(ofKey: customerKey) == dealer {
            pageChanges.readSinceLastChange[customerKey] = stored
        }
        return stored
    }

    private func equipment(customerKey: String) throws -> [Equipment] {
        let statement = try db.cachedStatement(
            sql: "SELECT id, name, zone_number, zone_description, installed FROM equipment WHERE customer_id = ? ORDER BY position")
        var equipment: [Equipment] = []
        let rows = try Row.fetchCursor(statement, arguments: [customerKey])
        while let row = try rows.next() {
            equipment.append(Equipment(id: row[0], name: row[1], zoneNumber: row[2], zoneDescription: row[3], installed: row[4]))
        }
        return equipment
    }

    private func zones(accountKey: String) throws -> [Zone] {
        let statement = try db.cachedStatement(
            sql: """
                SELECT zone_number, description, event_type, equipment_type, location, partition, restore_required
                FROM zone WHERE account_key = ? ORDER BY zone_number
                """)
        var zones: [Zone] = []
        let rows = try Row.fetchCursor(statement, arguments: [accountKey])
        while let row = try rows.next() {
            zones.append(
                Zone(
                    zoneNumber: row[0], description: row[1], eventType: ZoneEventType(rawValue: row[2]), equipmentType: row[3],
                    location: row[4], partition: row[5], restoreRequired: row[6]))
        }
        return zones
    }

    /// One row per phone, or one with NULL phone columns for a party without phones; a party's rows are adjacent.
    private func respondingParties(customerKey: String) throws -> [RespondingParty] {
        let statement = try db.cachedStatement(
            sql: """
                SELECT responding_party.id, responding_party.priority, responding_party.first_name, responding_party.last_name,
                    responding_party.email, responding_party.language, responding_party.passcode, responding_party.has_key,
                    responding_party.relation, responding_party.enhanced_verification, responding_party.role,
                    party_phone.number, party_phone.type, party_phone.extension
                FROM responding_party
                LEFT JOIN party_phone ON party_phone.customer_id = responding_party.customer_id AND party_phone.party_id = responding_party.id
                WHERE responding_party.customer_id = ?
                ORDER BY responding_party.position, responding_party.id, party_phone.position
                """)
        var parties: [RespondingParty] = []
        let rows = try Row.fetchCursor(statement, arguments: [customerKey])
        while let row = try rows.next() {
            let id: String = row[0]
            if parties.last?.id != id {
                parties.append(
                    RespondingParty(
                        id: id, priority: row[1], firstName: row[2], lastName: row[3], email: row[4], language: row[5], passcode: row[6],
                        hasKey: row[7], relation: row[8], enhancedVerification: row[9], role: PartyRole(rawValue: row[10])))
            }
            if let number: String = row[11] {
                parties[parties.count - 1].phones.append(Phone(number: number, type: PhoneType(rawValue: row[12]), extension: row[13]))
            }
        }
        return parties
    }

    /// The authorities of the account under `accountKey` (a storage key), in the order a page shows them. One row
    /// per served zip, or one with a NULL zip for an authority serving none; an entry's rows are adjacent.
    func accountAuthorities(accountKey: String) throws -> [AccountAuthority] {
        let statement = try db.cachedStatement(
            sql: """
                SELECT account_authority.id, account_authority.permit_number, account_authority.added_at, account_authority.added_by,
                    authority.id, authority.type, authority.name, authority.phone, authority.has_address, authority.street1,
                    authority.street2, authority.city, authority.state, authority.zip, authority.jurisdiction, authority.permit_required,
                    authority_zip.zip
                FROM account_authority
                LEFT JOIN authority ON authority.id = account_authority.authority_id
                LEFT JOIN authority_zip ON authority_zip.authority_id = authority.id
                WHERE account_authority.account_key = ?
                ORDER BY account_authority.added_at, account_authority.id, authority_zip.zip
                """)
        var entries: [AccountAuthority] = []
        let rows = try Row.fetchCursor(statement, arguments: [accountKey])
        while let row = try rows.next() {
            let id: String = row[0]
            if entries.last?.id != id {
                let authority: Authority? = (row[4] as String?).map { authorityID in
                    Authority(
                        id: authorityID, type: AuthorityType(rawValue: row[5]), name: row[6], phone: row[7],
                        address: Self.address(row, from: 8),
                        jurisdiction: Jurisdiction(rawValue: row[14]), permitRequired: row[15])
                }
                entries.append(AccountAuthority(id: id, authority: authority, permitNumber: row[1], addedAtMs: row[2], addedBy: row[3]))
            }
            if let zip: String = row[16] { entries[entries.count - 1].authority?.servedZips.append(zip) }
        }
        return entries
    }

    /// The address in columns `has_address, street1, street2, city, state, zip` starting at `index`.
    private static func address(_ row: Row, from index: Int) -> Address? {
        guard row[index] as Bool else { return nil }
        return Address(street1: row[index + 1], street2: row[index + 2], city: row[index + 3], state: row[index + 4], zip: row[index + 5])
    }

    /// The session in the columns of `storedAccount`'s head query starting at `index` (its `test_session.id`).
    private static func openSession(_ row: Row, from index: Int) -> TestSession {
        let zones: String = row[index + 7]
        let endedAt: Int64? = row[index + 15]
        return TestSession(
            id: row[index],
            category: TestCategory(id: row[index + 1], description: row[index + 2], defaultDurationMinutes: row[index + 3]),
            effectiveAtMs: row[index + 4], expiresAtMs: row[index + 5], scope: TestScope(rawValue: row[index + 6]),
            zoneNumbers: zones.isEmpty ? [] : zones.split(separator: ",").map(String.init), comment: row[index + 8],
            placedBy: row[index + 9] ? UserRef(id: row[index + 10], name: row[index + 11]) : nil,
            authorizedBy: row[index + 12] ? TestAuthorization(respondingPartyID: row[index + 13], verifiedBy: row[index + 14]) : nil,
            endedAtMs: endedAt ?? 0, endReason: TestEndReason(rawValue: row[index + 16]))
    }
}
