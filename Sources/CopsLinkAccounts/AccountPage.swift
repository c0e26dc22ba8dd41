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

    /// Replaces the authorities of a linked customer's page (field 9 of `encodedAccount`) with `entries` as
    /// `init(_:)` shows them to a customer whose address has the zip `customerZip`, and keeps every other byte: a write
    /// that changes only an account's authorities (AddAccountAuthorities, RemoveAccountAuthority, a directory entry)
    /// then costs the authorities, not the whole account read and encoded again (a page of 1.2 MB at every field
    /// limit). Protobuf encodes fields in number order, so the authorities are one run of bytes between the parties
    /// (8) and the mapped zones (10).
    public mutating func replaceAuthorities(_ entries: [AccountAuthority], customerZip: String) throws(RPCError) {
        let range = try Self.range(ofField: 9, in: encodedAccount)
        let authorities = AccountServiceImplementation.pageAuthorities(entries, customerZip: customerZip)
        encodedAccount.replaceSubrange(range, with: Account(authorities: authorities).serializedBytes())
    }

    /// The bytes of every entry of field `number` in `bytes`, a message encoded with its fields in number order (an
    /// empty range where they would be when it has none).
    static func range(ofField number: UInt64, in bytes: [UInt8]) throws(RPCError) -> Range<Int> {
        let found: Range<Int>? = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return 0..<0 }
            let end = base + buffer.count
            var cursor = base
            var start: Int?
            while cursor < end {
                let fieldStart = cursor - base
                guard let key = WireFieldReader.readVarint(&cursor, end) else { return nil }
                let field = key >> 3
                if field > number { return (start ?? fieldStart)..<fieldStart }
                if field == number {
                    if start == nil { start = fieldStart }
                } else if start != nil {
                    return nil  // out of number order
                }
                guard WireFieldReader.skipValue(wireType: key & 7, &cursor, end) else { return nil }
            }
            return (start ?? buffer.count)..<buffer.count
        }
        guard let found else { throw RPCError(code: .internalError, message: "a stored account page is malformed") }
        return found
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
