import CopsLinkMessages

/// A request message whose every string and list is checked against `FieldLimits`: each handler calls
/// `checkFieldLimits()` first, before its own rules, the request id and the store.
protocol FieldLimitChecked {
    func checkFieldLimits() throws(AccountError)
}

extension FieldLimits {
    /// INVALID_ARGUMENT `<field> is N bytes; at most L` when `value` is longer than `limit` UTF-8 bytes. The field's
    /// path is built only on failure; the value itself is never quoted.
    static func check(_ value: String, _ limit: Int, _ field: @autoclosure () -> String) throws(AccountError) {
        let bytes = value.utf8.count
        guard bytes <= limit else { throw .invalid("\(field()) is \(bytes) bytes; at most \(limit)") }
    }

    /// The longest prefix of `value` (whole Unicode scalars) within `limit` UTF-8 bytes: for text the server fills
    /// in itself (a key's name as `added_by`), which must fit the field as a request's would.
    static func prefix(_ value: String, _ limit: Int) -> String {
        guard value.utf8.count > limit else { return value }
        var result = String.UnicodeScalarView()
        var bytes = 0
        for scalar in value.unicodeScalars {
            bytes += UTF8.width(scalar)
            guard bytes <= limit else { break }
            result.append(scalar)
        }
        return String(result)
    }

    /// INVALID_ARGUMENT `<field> has N entries; at most L` when `list` holds more than `limit` elements.
    static func check(count: Int, _ limit: Int, _ field: @autoclosure () -> String) throws(AccountError) {
        guard count <= limit else { throw .invalid("\(field()) has \(count) entries; at most \(limit)") }
    }
}

// MARK: Requests

extension LinkAccountRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try customer?.checkFieldLimits(at: "customer")
        try RespondingParty.checkFieldLimits(respondingParties)
        try FieldLimits.check(accountNumber, FieldLimits.accountNumber, "account_number")
        try FieldLimits.check(receiverNumber, FieldLimits.code, "receiver_number")
        try FieldLimits.check(line, FieldLimits.code, "line")
    }
}

extension GetAccountRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
    }
}

extension UnlinkAccountRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
    }
}

extension SyncCustomerRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try customer?.checkFieldLimits(at: "customer")
        try RespondingParty.checkFieldLimits(respondingParties)
    }
}

extension SearchAuthoritiesRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
        try FieldLimits.check(zip, FieldLimits.code, "zip")
    }
}

extension AddAccountAuthoritiesRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
        try FieldLimits.check(count: authorities.count, FieldLimits.authoritiesPerRequest, "authorities")
        for (index, wanted) in authorities.enumerated() {
            try FieldLimits.check(wanted.authorityID, FieldLimits.id, "authorities[\(index)].authority_id")
            try FieldLimits.check(wanted.permitNumber, FieldLimits.permitNumber, "authorities[\(index)].permit_number")
        }
        try FieldLimits.check(addedBy, FieldLimits.name, "added_by")
    }
}

extension RemoveAccountAuthorityRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
        try FieldLimits.check(accountAuthorityID, FieldLimits.id, "account_authority_id")
    }
}

extension SetCentralStationZonesRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
        try FieldLimits.check(count: zones.count, FieldLimits.zones, "zones")
        for (index, zone) in zones.enumerated() {
            try FieldLimits.check(zone.zoneNumber, FieldLimits.code, "zones[\(index)].zone_number")
            try FieldLimits.check(zone.description, FieldLimits.description, "zones[\(index)].description")
            try FieldLimits.check(zone.equipmentType, FieldLimits.description, "zones[\(index)].equipment_type")
            try FieldLimits.check(zone.location, FieldLimits.description, "zones[\(index)].location")
        }
    }
}

extension ListTestCategoriesRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {}
}

extension GetTestStatusRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
    }
}

extension PlaceOnTestRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
        try FieldLimits.check(categoryID, FieldLimits.id, "category_id")
        try FieldLimits.check(count: zoneNumbers.count, FieldLimits.testZones, "zone_numbers")
        for (index, zone) in zoneNumbers.enumerated() {
            try FieldLimits.check(zone, FieldLimits.code, "zone_numbers[\(index)]")
        }
        try FieldLimits.check(comment, FieldLimits.comment, "comment")
        try placedBy?.checkFieldLimits(at: "placed_by")
        if let authorizedBy {
            try FieldLimits.check(authorizedBy.respondingPartyID, FieldLimits.id, "authorized_by.responding_party_id")
            try FieldLimits.check(authorizedBy.verifiedBy, FieldLimits.name, "authorized_by.verified_by")
        }
    }
}

extension PlaceOffTestRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(requestID, FieldLimits.requestID, "request_id")
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
        try placedBy?.checkFieldLimits(at: "placed_by")
        try FieldLimits.check(comment, FieldLimits.comment, "comment")
    }
}

extension RequestTestDataRequest: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(customerID, FieldLimits.id, "customer_id")
    }
}

/// One message of a `ReportSignals` stream; a signal over a limit is rejected (listed by its index), not fatal.
extension Signal: FieldLimitChecked {
    func checkFieldLimits() throws(AccountError) {
        try FieldLimits.check(receiverNumber, FieldLimits.code, "receiver_number")
        try FieldLimits.check(line, FieldLimits.code, "line")
        try FieldLimits.check(accountNumber, FieldLimits.accountNumber, "account_number")
        try FieldLimits.check(contactID, FieldLimits.contactIDMessage, "contact_id")
        try FieldLimits.check(eventCode, FieldLimits.code, "event_code")
        try FieldLimits.check(zoneOrUser, FieldLimits.code, "zone_or_user")
    }
}

// MARK: Nested messages

extension Customer {
    func checkFieldLimits(at path: @autoclosure () -> String) throws(AccountError) {
        try FieldLimits.check(id, FieldLimits.id, "\(path()).id")
        try FieldLimits.check(firstName, FieldLimits.name, "\(path()).first_name")
        try FieldLimits.check(lastName, FieldLimits.name, "\(path()).last_name")
        try FieldLimits.check(companyName, FieldLimits.companyName, "\(path()).company_name")
        if let address {
            try FieldLimits.check(address.street1, FieldLimits.addressLine, "\(path()).address.street1")
            try FieldLimits.check(address.street2, FieldLimits.addressLine, "\(path()).address.street2")
            try FieldLimits.check(address.city, FieldLimits.city, "\(path()).address.city")
            try FieldLimits.check(address.state, FieldLimits.state, "\(path()).address.state")
            try FieldLimits.check(address.zip, FieldLimits.code, "\(path()).address.zip")
        }
        try FieldLimits.check(premisePhone, FieldLimits.phoneNumber, "\(path()).premise_phone")
        try FieldLimits.check(passcode, FieldLimits.passcode, "\(path()).passcode")
        try FieldLimits.check(count: equipment.count, FieldLimits.equipment, "\(path()).equipment")
        for (index, item) in equipment.enumerated() {
            try FieldLimits.check(item.id, FieldLimits.id, "\(path()).equipment[\(index)].id")
            try FieldLimits.check(item.name, FieldLimits.name, "\(path()).equipment[\(index)].name")
            try FieldLimits.check(item.zoneNumber, FieldLimits.code, "\(path()).equipment[\(index)].zone_number")
            try FieldLimits.check(item.zoneDescription, FieldLimits.description, "\(path()).equipment[\(index)].zone_description")
        }
    }
}

extension RespondingParty {
    /// The `responding_parties` of a link or sync request.
    static func checkFieldLimits(_ parties: [RespondingParty]) throws(AccountError) {
        try FieldLimits.check(count: parties.count, FieldLimits.respondingParties, "responding_parties")
        for (index, party) in parties.enumerated() {
            try party.checkFieldLimits(at: "responding_parties[\(index)]")
        }
    }

    func checkFieldLimits(at path: @autoclosure () -> String) throws(AccountError) {
        try FieldLimits.check(id, FieldLimits.id, "\(path()).id")
        try FieldLimits.check(firstName, FieldLimits.name, "\(path()).first_name")
        try FieldLimits.check(lastName, FieldLimits.name, "\(path()).last_name")
        try FieldLimits.check(count: phones.count, FieldLimits.phonesPerParty, "\(path()).phones")
        for (index, phone) in phones.enumerated() {
            try FieldLimits.check(phone.number, FieldLimits.phoneNumber, "\(path()).phones[\(index)].number")
            try FieldLimits.check(phone.extension, FieldLimits.phoneExtension, "\(path()).phones[\(index)].extension")
        }
        try FieldLimits.check(email, FieldLimits.email, "\(path()).email")
        try FieldLimits.check(language, FieldLimits.language, "\(path()).language")
        try FieldLimits.check(passcode, FieldLimits.passcode, "\(path()).passcode")
        try FieldLimits.check(relation, FieldLimits.relation, "\(path()).relation")
    }
}

extension UserRef {
    func checkFieldLimits(at path: @autoclosure () -> String) throws(AccountError) {
        try FieldLimits.check(id, FieldLimits.id, "\(path()).id")
        try FieldLimits.check(name, FieldLimits.name, "\(path()).name")
    }
}
