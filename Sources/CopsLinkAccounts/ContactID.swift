import CopsLinkCore

/// An Ademco Contact ID message: `ACCT MT Q EEE GG CCC S`.
public struct ContactIDMessage: Hashable, Sendable {
    public var account: String
    /// 18 or 98.
    public var messageType: String
    /// 1 new event, 3 restore, 6 still present.
    public var qualifier: UInt32
    public var eventCode: String
    public var partition: UInt32
    /// Zone or user number, three digits.
    public var zoneOrUser: String

    /// Parses the 16 characters (spaces ignored), verifying the checksum: the digit values (0 counts as 10,
    /// B-F as 11-15) add up to a multiple of 15.
    public init(parsing text: String) throws(AccountError) {
        let characters = Array(text.uppercased().filter { $0 != " " })
        guard characters.count == 16 else {
            throw .invalid("Contact ID message must have 16 characters (ACCT MT Q EEE GG CCC S), got \(characters.count)")
        }
        var sum = 0
        for character in characters {
            guard let value = Self.digitValue(character) else {
                throw .invalid("Contact ID message contains '\(ClientText.excerpt(String(character)))', which is not a digit or B-F")
            }
            sum += value
        }
        guard sum % 15 == 0 else { throw .invalid("Contact ID checksum does not match") }
        let string = String(characters)
        func field(_ start: Int, _ length: Int) -> String {
            let from = string.index(string.startIndex, offsetBy: start)
            return String(string[from..<string.index(from, offsetBy: length)])
        }
        account = field(0, 4)
        messageType = field(4, 2)
        guard messageType == "18" || messageType == "98" else {
            throw .invalid("Contact ID message type must be 18 or 98, got \(messageType)")
        }
        guard let qualifier = UInt32(field(6, 1)), [1, 3, 6].contains(qualifier) else {
            throw .invalid("Contact ID qualifier must be 1, 3 or 6, got \(field(6, 1))")
        }
        self.qualifier = qualifier
        eventCode = field(7, 3)
        guard eventCode.allSatisfy(\.isNumber) else { throw .invalid("Contact ID event code must be three digits") }
        partition = UInt32(field(10, 2)) ?? 0
        zoneOrUser = field(12, 3)
    }

    /// The message with a valid checksum appended, for tests and demo data.
    public static func make(account: String, qualifier: UInt32, eventCode: String, partition: UInt32, zoneOrUser: String) -> String {
        let body = account + "18" + String(qualifier) + eventCode + (partition < 10 ? "0" : "") + String(partition) + zoneOrUser
        let sum = body.compactMap(digitValue).reduce(0, +)
        let checksum = (15 - sum % 15) % 15
        let digit = checksum == 0 ? "F" : checksum == 10 ? "0" : String(checksum, radix: 16, uppercase: true)
        return body + digit
    }

    private static func digitValue(_ character: Character) -> Int? {
        switch character {
        case "0": 10
        case "1"..."9": Int(String(character))
        case "B"..."F": Int(String(character), radix: 16)
        default: nil
        }
    }
}
