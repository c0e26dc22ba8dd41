/// The most each string and list of an `AccountService` request may hold: every such number lives here, and only here.
///
/// Without them one request could store megabytes per field, and every later read of the account would carry them.
/// Every handler checks its request against these (`FieldLimitChecked`) before any other rule and before anything is
/// stored; crossing one is INVALID_ARGUMENT naming the field by its proto path and the limit, never the value
/// (`customer.company_name is 5000 bytes; at most 200`). The `.proto` comments and README's field-limits table
/// document the same numbers.
///
/// Strings are counted in UTF-8 bytes of the decoded value (protobuf-c replaces invalid UTF-8 with U+FFFD, 3 bytes).
/// The limits are generous for what a CRM and a central station hold; format rules (zip, zone number, account number,
/// UUID) still apply within them.
public enum FieldLimits {
    // MARK: Strings, in UTF-8 bytes

    /// Customer, responding-party, equipment, authority, account-authority, test-category and user ids: the
    /// 128 bytes the service accepted before these limits, so no stored customer becomes unreachable.
    public static let id = 128
    /// `request_id`: a UUID, 36 bytes.
    public static let requestID = 64
    /// First and last names; equipment, user and `added_by` / `verified_by` names.
    public static let name = 100
    public static let companyName = 200
    /// `street1`, `street2`.
    public static let addressLine = 200
    public static let city = 100
    public static let state = 100
    /// Short codes with a format of their own: zip, zone numbers, receiver number, line, Contact ID event code and
    /// zone or user number. The limit only bounds what a format error may quote.
    public static let code = 16
    /// Phone numbers, premise phone included (E.164 is at most 15 digits; room for formatting).
    public static let phoneNumber = 32
    public static let phoneExtension = 16
    /// RFC 5321: a path is at most 256 octets, an address 254.
    public static let email = 254
    /// A BCP 47 language tag (RFC 5646 asks for at least 35 characters of room).
    public static let language = 35
    /// A responding party's relation to the customer ("owner", "neighbour").
    public static let relation = 100
    /// Customer and responding-party passcodes.
    public static let passcode = 64
    /// Zone and equipment descriptions, equipment type, location.
    public static let description = 200
    /// Test comments.
    public static let comment = 1000
    public static let permitNumber = 64
    /// Central-station account numbers (the format allows 32 letters, digits and dashes).
    public static let accountNumber = 32
    /// A raw Contact ID message: 16 characters, spaces allowed between them.
    public static let contactIDMessage = 64

    // MARK: Lists

    /// Responding parties of one customer.
    public static let respondingParties = 100
    /// Phones of one responding party.
    public static let phonesPerParty = 10
    /// Equipment of one customer.
    public static let equipment = 1000
    /// Zones of one `SetCentralStationZones` (zone numbers are 001-999 and unique, so 999 can be valid).
    public static let zones = 1000
    /// Authorities of one `AddAccountAuthorities` (an account holds at most one of each of five types).
    public static let authoritiesPerRequest = 50
    /// Zones listed in a test's scope.
    public static let testZones = 1000
    /// Signals of one `ReportSignals` stream: the next one ends the call INVALID_ARGUMENT, after the signals before it
    /// were processed.
    public static let signalsPerStream = 100_000
}
