/// Passcodes never appear in logs, errors or debug output: `print`, string interpolation, `String(reflecting:)` and
/// `dump` of a customer or responding party (and of every message holding one) go through these mirrors, which
/// show the passcode as `<redacted>` (or empty when there is none). The value itself is unchanged.
enum Redacted {
    static func passcode(_ passcode: String) -> String { passcode.isEmpty ? "" : "<redacted>" }
}

extension Customer: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "id": id, "firstName": firstName, "lastName": lastName, "companyName": companyName, "address": address as Any,
                "premisePhone": premisePhone, "passcode": Redacted.passcode(passcode), "equipment": equipment
            ],
            displayStyle: .struct)
    }
}

extension RespondingParty: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "id": id, "priority": priority, "firstName": firstName, "lastName": lastName, "phones": phones, "email": email,
                "language": language, "passcode": Redacted.passcode(passcode), "hasKey": hasKey, "relation": relation,
                "enhancedVerification": enhancedVerification, "role": role
            ],
            displayStyle: .struct)
    }
}
