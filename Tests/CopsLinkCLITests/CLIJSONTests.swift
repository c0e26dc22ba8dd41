import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkMessages
import Testing

/// `CLIJSON`, what `copslink --json` prints, without a server: the CLI's additions after a message's fields, the
/// error object, and the promise that no passcode is ever printed, even one a server should not have sent.
@Suite("CLIJSON")
struct CLIJSONTests {
    @Test func extrasFollowTheMessagesFields() throws {
        let unlinked = UnlinkAccountResponse(wasLinked: true, account: nil)
        #expect(try CLIJSON.text(unlinked) == #"{"was_linked":true,"account":null,"ended_test":null}"#)
        #expect(
            try CLIJSON.text(unlinked, extras: ["replayed": .bool(true)])
                == #"{"was_linked":true,"account":null,"ended_test":null,"replayed":true}"#)
        // A message without fields: no comma before the first addition.
        #expect(
            try CLIJSON.text(ListTestCategoriesRequest(), extras: ["replayed": .bool(false), "ids": .strings(["a\"b", ""])])
                == #"{"replayed":false,"ids":["a\"b",""]}"#)
    }

    @Test func theCLIsAdditionsAreNamedUnlikeAnyFieldOfProto() {
        for entry in MessageCatalog.entries {
            let schema = ProtoSchema.message(entry.protoName)
            for name in ["replayed", "rejected_contact_ids"] {
                #expect(schema?.fieldIndex(name: name) == nil, "\(entry.protoName) has a field \(name)")
            }
        }
    }

    @Test func aFailureIsCodeNameAndMessageInThatOrder() {
        #expect(
            CLIJSON.error(code: 5, name: "NOT_FOUND", message: "no \"x\"\n\u{1B}")
                == #"{"code":5,"name":"NOT_FOUND","message":"no \"x\"\n\u001b"}"#)
    }

    @Test func noPasscodeIsPrintedEvenWhenTheServerSendsOne() throws {
        let account = Account(
            customer: Customer(id: "c-1", passcode: "owl-secret"), linkState: .linked, accountNumber: "22-1", linkedAtMs: 1_717_200_000_000)
        let texts = [
            try CLIJSON.text(account),
            try CLIJSON.text(LinkAccountResponse(account: account, created: true)),
            try CLIJSON.text(SyncCustomerResponse(account: account)),
            try CLIJSON.text(UnlinkAccountResponse(wasLinked: true, account: account), extras: ["replayed": .bool(true)])
        ]
        for text in texts {
            #expect(!text.contains("owl-secret"), "\(text)")
            #expect(text.contains(#""passcode":"""#), "the field is there, empty: \(text)")
            #expect(text.contains(#""linked_at_ms":"1717200000000""#), "a 64-bit integer as a string: \(text)")
            #expect(text.contains(#""link_state":"LINK_STATE_LINKED""#), "\(text)")
        }
    }

    /// Every message of proto/ that can hold a passcode (directly or in a message it holds) is blanked by `CLIJSON`
    /// (`PasscodeCarrying`), or is a request, which the CLI never prints. A new response holding a customer fails
    /// here until it conforms.
    @Test func everyMessageThatCanHoldAPasscodeIsBlankedOrARequest() {
        let requests: Set<String> = [
            "copslink.v1.RespondingParty", "copslink.v1.LinkAccountRequest", "copslink.v1.SyncCustomerRequest"
        ]
        var holders: [String] = []
        for entry in MessageCatalog.entries where Self.canHoldAPasscode(entry.protoName) {
            holders.append(entry.protoName)
            let blanked = entry.swiftType.map { $0 is any PasscodeCarrying.Type } ?? false
            #expect(blanked || requests.contains(entry.protoName), "\(entry.protoName) can hold a passcode")
        }
        #expect(holders.contains("copslink.v1.Account") && holders.contains("copslink.v1.Customer"), "\(holders)")
    }

    static func canHoldAPasscode(_ message: String, seen: Set<String> = []) -> Bool {
        guard !seen.contains(message), let schema = ProtoSchema.message(message) else { return false }
        return schema.fields.contains { field in
            if field.name == "passcode" { return true }
            if case .message(let inner) = field.kind { return canHoldAPasscode(inner, seen: seen.union([message])) }
            return false
        }
    }
}
