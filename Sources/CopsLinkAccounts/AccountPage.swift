public import CopsLinkCore
public import CopsLinkMessages

/// GetAccount's read model: a customer's account page kept encoded in the store, so that a read is one lookup and a
/// copy instead of a dozen queries, the page's assembly and its encoding.
///
/// A store keeps one per customer that has a link, rewritten in the same transaction as every write that changes
/// anything the page shows (the customer, its parties, its link, its account number's receiver and line, zones,
/// authorities and their directory entries, the open test session, test categories), so that it can never disagree
/// with the rows it is made of. What depends on the time of the read, the test status, is derived when the page is
/// read: the page holds `Account` without `test_status` (its last field), and the open session it is derived from.
public struct AccountPage: Sendable, Equatable {
    /// `Account` as GetAccount answers it, without `test_status`: fields 1 to 11, encoded.
    public var encodedAccount: [UInt8]
    /// The session that has not ended, encoded, if there is one.
    public var encodedOpenSession: [UInt8]?

    public init(encodedAccount: [UInt8], encodedOpenSession: [UInt8]?) {
        self.encodedAccount = encodedAccount
        self.encodedOpenSession = encodedOpenSession
    }

    /// The page of `stored`, as `AccountServiceImplementation.assemble` builds the account from it.
    public init(_ stored: StoredAccount) {
        var account = AccountServiceImplementation.assemble(stored, atMs: 0)
        account.testStatus = nil
        encodedAccount = account.serializedBytes()
        // An unlinked customer's page shows no test (`AccountServiceImplementation.assemble`).
        encodedOpenSession = stored.link.state == .linked ? stored.openSession?.serializedBytes() : nil
    }

    /// The account GetAccount answers at `now`: the page with its test status appended. Protobuf encodes fields in
    /// number order and `test_status` is the last, so these are the bytes of the whole `Account` encoded at once
    /// (tested byte for byte against the assembled account).
    public consuming func account(atMs now: Int64) throws(RPCError) -> EncodedMessage<Account> {
        let session = try encodedOpenSession.map { (bytes) throws(RPCError) in try TestSession(from: bytes) }
        var bytes = encodedAccount
        encodedAccount = []
        Account(testStatus: TestSessionRules.status(of: session, atMs: now)).serialize(into: &bytes)
        return EncodedMessage(bytes: bytes)
    }
}
