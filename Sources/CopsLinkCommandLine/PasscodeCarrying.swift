public import CopsLinkCore
public import CopsLinkMessages

/// A response message that can hold a passcode. The server never returns one (`CentralStationView`), and the CLI
/// promises never to print one either: `CLIJSON` blanks them before writing, so a server that did send one (a bug,
/// another implementation) still cannot make `--json` show it. A test checks that every message of proto/ that can
/// reach a passcode field either conforms or is a request the CLI never prints.
public protocol PasscodeCarrying: RPCMessage {
    /// This message with every passcode in it set to "".
    func withoutPasscodes() -> Self
}

extension Customer: PasscodeCarrying {
    public func withoutPasscodes() -> Customer {
        var customer = self
        customer.passcode = ""
        return customer
    }
}

extension Account: PasscodeCarrying {
    public func withoutPasscodes() -> Account {
        var account = self
        account.customer = account.customer?.withoutPasscodes()
        return account
    }
}

extension LinkAccountResponse: PasscodeCarrying {
    public func withoutPasscodes() -> LinkAccountResponse {
        var response = self
        response.account = response.account?.withoutPasscodes()
        return response
    }
}

extension SyncCustomerResponse: PasscodeCarrying {
    public func withoutPasscodes() -> SyncCustomerResponse {
        var response = self
        response.account = response.account?.withoutPasscodes()
        return response
    }
}

extension UnlinkAccountResponse: PasscodeCarrying {
    public func withoutPasscodes() -> UnlinkAccountResponse {
        var response = self
        response.account = response.account?.withoutPasscodes()
        return response
    }
}
