public import CopsLinkCore
public import CopsLinkMessages

/// A broken account rule, worded for a dealer, with the status it maps to.
public struct AccountError: RPCErrorConvertible, Hashable, CustomStringConvertible {
    public let code: StatusCode
    public let message: String

    public init(_ code: StatusCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var rpcError: RPCError { RPCError(code: code, message: message) }
    public var description: String { "\(code.name): \(message)" }

    static func customerNotFound(_ id: String) -> AccountError {
        AccountError(.notFound, "No customer '\(ClientText.excerpt(id))': none by that id was ever linked to a central-station account.")
    }

    static func notLinked(_ id: String) -> AccountError {
        AccountError(.failedPrecondition, "The central-station account of customer '\(ClientText.excerpt(id))' is unlinked; link it first.")
    }

    static func invalid(_ message: String) -> AccountError { AccountError(.invalidArgument, message) }
}

extension AccountError {
    /// A directory entry whose type would change while accounts hold it as another type: an account has at most one
    /// authority of each type, and its entries are kept by type, so the change would leave an account with two
    /// authorities of one type (and the next AddAccountAuthorities of the old type failing).
    public static func typeChange(of authority: Authority, from type: AuthorityType, onAccounts count: Int) -> AccountError {
        func name(_ type: AuthorityType) -> String { (AuthorityType.names[type.rawValue] ?? "\(type.rawValue)").lowercased() }
        let accounts = count == 1 ? "1 account" : "\(count) accounts"
        return AccountError(
            .failedPrecondition,
            "authority '\(ClientText.excerpt(authority.id))' is on \(accounts) as \(name(type)); its type cannot change to "
                + "\(name(authority.type)) (an account has at most one authority of each type). Remove it from those accounts "
                + "first, or import it under a new id")
    }
}
