public import CopsLinkCore
import CopsLinkServices

extension AccessPolicy {
    /// Who may call what on a CopsLink server: health, server info and gRPC reflection are open; the account service needs `read`,
    /// `write` or `test-control`; anything else (the conformance TestService) needs `admin`.
    public static var copsLink: AccessPolicy {
        typealias Method = AccountService.Method
        // Reflection serves the schema of proto/, which is public too.
        var policy = AccessPolicy(
            publicMethods: Set([Health.Method.check.path, ServerInfo.Method.describe.path] + ReflectionCatalog.methodPaths))
        for method in [Method.getAccount, Method.searchAuthorities, Method.listTestCategories, Method.getTestStatus, Method.requestTestData]
        {
            policy.requiredRoles[method.path] = .read
        }
        for method in [
            Method.linkAccount, Method.unlinkAccount, Method.syncCustomer, Method.addAccountAuthorities, Method.removeAccountAuthority,
            Method.setCentralStationZones, Method.reportSignals
        ] {
            policy.requiredRoles[method.path] = .write
        }
        for method in [Method.placeOnTest, Method.placeOffTest] { policy.requiredRoles[method.path] = .testControl }
        return policy
    }
}
