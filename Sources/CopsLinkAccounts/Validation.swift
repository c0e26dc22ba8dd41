import CopsLinkCore
import CopsLinkMessages

/// Format checks shared by the account operations. Each failure is an `AccountError` a dealer can act on.
enum Validation {
    /// `^\d{5}(-\d{4})?$`
    static func isZip(_ zip: String) -> Bool {
        let bytes = Array(zip.utf8)
        let digit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        switch bytes.count {
        case 5: return bytes.allSatisfy(digit)
        case 10: return bytes[0..<5].allSatisfy(digit) && bytes[5] == UInt8(ascii: "-") && bytes[6...].allSatisfy(digit)
        default: return false
        }
    }

    /// The five-digit part of a zip code.
    static func zip5(_ zip: String) -> String { String(zip.prefix(5)) }

    /// Three digits, 001 to 999.
    static func isZoneNumber(_ zone: String) -> Bool {
        zone.utf8.count == 3 && zone.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } && zone != "000"
    }

    /// 8-4-4-4-12 hexadecimal digits.
    static func isUUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    /// Letters, digits and dashes, 1 to 32 characters (e.g. "22-8761").
    static func isAccountNumber(_ text: String) -> Bool {
        (1...32).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }

    /// A required id, not blank (a `" "` id is as good as none); its length was checked against `FieldLimits.id`
    /// with the rest of the request.
    static func requireID(_ id: String, _ what: String) throws(AccountError) {
        guard !isBlank(id) else { throw .invalid("\(what) is required.") }
    }

    /// Empty or only white space. ASCII is decided without Unicode's property tables, whose lookup was a percent of
    /// GetAccount's server time for checking the first character of its customer id.
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            // Unicode's White_Space in ASCII: tab, line feed, vertical tab, form feed, carriage return and space.
            scalar.isASCII ? scalar == " " || (0x09...0x0D).contains(scalar.value) : scalar.properties.isWhitespace
        }
    }

    /// USPS codes of the states, the District of Columbia, the territories and the military "states".
    static let usStateCodes: Set<String> = [
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD",
        "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC",
        "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "AS", "GU", "MP", "PR", "VI", "UM", "AA", "AE", "AP"
    ]

    /// The timestamps a request may carry: Unix epoch milliseconds from 1970 to the end of year 9999. Checked before
    /// any arithmetic, so that `now ± skew`, spans and expiry times computed from them cannot overflow (an `Int64.min`
    /// `from_ms` used to trap in a subtraction and kill the server).
    static let timestampRangeMs: ClosedRange<Int64> = 0...253_402_300_799_999

    /// Throws INVALID_ARGUMENT naming `field` unless `value` lies in `timestampRangeMs`.
    static func checkTimestamp(_ value: Int64, _ field: String) throws(AccountError) {
        guard timestampRangeMs.contains(value) else {
            throw .invalid(
                "\(field) \(value) is out of range (\(timestampRangeMs.lowerBound) to \(timestampRangeMs.upperBound), Unix epoch milliseconds)."
            )
        }
    }

    /// A value of an enum the proto does not name is refused, not stored (domain.md: never a silent change).
    static func checkKnown(_ value: some ProtoEnum, _ field: String) throws(AccountError) {
        guard value.isKnown else {
            let known = type(of: value).names.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            throw .invalid("\(field) \(value.number) is not a known value (\(known)).")
        }
    }

    /// A Contact ID group or partition is two digits.
    static let maximumPartition: UInt32 = 99

    static func checkPartition(_ partition: UInt32, _ field: String) throws(AccountError) {
        guard partition <= maximumPartition else {
            throw .invalid("\(field) \(partition) is out of range (0 to \(maximumPartition), Contact ID's two digits).")
        }
    }

    static func checkZone(_ zone: String, _ what: String = "Zone number") throws(AccountError) {
        guard isZoneNumber(zone) else { throw .invalid("\(what) '\(ClientText.excerpt(zone))' must be three digits from 001 to 999.") }
    }

    /// The customer record a CRM pushes: identity, address, equipment zones; and its responding parties.
    static func checkCustomer(_ customer: Customer?, parties: [RespondingParty]) throws(AccountError) -> Customer {
        guard let customer else { throw .invalid("The customer is required.") }
        try requireID(customer.id, "The customer id")
        guard !isBlank(customer.firstName + customer.lastName + customer.companyName) else {
            throw .invalid("The customer needs a name or a company name.")
        }
        // Authorities are found by the customer's zip: an account without one could never get any.
        guard let address = customer.address, !address.zip.isEmpty else {
            throw .invalid("customer.address.zip is required: authorities are found by the customer's zip code.")
        }
        guard isZip(address.zip) else {
            throw .invalid("The customer's zip code '\(ClientText.excerpt(address.zip))' must look like 84601 or 84601-1234.")
        }
        if !address.state.isEmpty, !usStateCodes.contains(address.state) {
            throw .invalid("customer.address.state '\(ClientText.excerpt(address.state))' is not a US state or territory code (like UT).")
        }
        var equipmentIDs = Set<String>()
        // A zone maps to one piece of equipment (GetAccount lists mapped zones by it).
        var equipmentByZone: [String: String] = [:]
        for item in customer.equipment {
            try requireID(item.id, "Every equipment's id")
            guard equipmentIDs.insert(item.id).inserted else {
                throw .invalid("Equipment id '\(ClientText.excerpt(item.id))' appears twice.")
            }
            guard !item.zoneNumber.isEmpty else { continue }
            try checkZone(item.zoneNumber, "Zone number of equipment '\(ClientText.excerpt(item.id))'")
            if let other = equipmentByZone.updateValue(item.id, forKey: item.zoneNumber) {
                throw .invalid(
                    "Zone \(item.zoneNumber) is on two pieces of equipment, '\(ClientText.excerpt(other))' and '\(ClientText.excerpt(item.id))'."
                )
            }
        }
        var partyIDs = Set<String>()
        // The central station calls them in priority order: two parties with one priority leave it undefined.
        var indexByPriority: [UInt32: Int] = [:]
        for (index, party) in parties.enumerated() {
            guard party.priority > 0 else {
                throw .invalid("responding_parties[\(index)].priority is 0; priorities start at 1 (1 is called first).")
            }
            if let other = indexByPriority.updateValue(index, forKey: party.priority) {
                throw .invalid(
                    "responding_parties[\(other)] and [\(index)] both have priority \(party.priority); each priority may be given once.")
            }
            try requireID(party.id, "Every responding party's id")
            // The central station asks for them by name.
            guard !isBlank(party.firstName + party.lastName) else {
                throw .invalid("responding_parties[\(index)] needs a first or last name: the central station asks for them by name.")
            }
            guard partyIDs.insert(party.id).inserted else {
                throw .invalid("Responding party id '\(ClientText.excerpt(party.id))' appears twice.")
            }
            // The central station calls them: a party without a number to call is no responding party.
            guard !party.phones.isEmpty, party.phones.allSatisfy({ !isBlank($0.number) }) else {
                throw .invalid("responding_parties[\(index)].phones: every responding party needs a phone number.")
            }
            try checkKnown(party.role, "responding_parties[\(index)].role")
            for (phoneIndex, phone) in party.phones.enumerated() {
                try checkKnown(phone.type, "responding_parties[\(index)].phones[\(phoneIndex)].type")
            }
        }
        return customer
    }
}
