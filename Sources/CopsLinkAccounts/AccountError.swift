public import CopsLinkCore

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
