/// Who is calling, as established by authentication (`AuthInterceptor`): the tenant the call acts for and what it
/// may do.
public struct Caller: Sendable, Hashable {
    /// The tenant (dealer) whose data the call may see and change.
    public var tenant: String
    public var roles: Set<Role>
    /// The credential's public id (never its secret), for logs and audit.
    public var keyID: String
    /// The credential's name (`keys create --name`, e.g. "crm-sync"), possibly empty: who the account service
    /// records as `added_by` / `placed_by` when a request names nobody.
    public var keyName: String

    public init(tenant: String, roles: Set<Role>, keyID: String, keyName: String = "") {
        self.tenant = tenant
        self.roles = roles
        self.keyID = keyID
        self.keyName = keyName
    }

    /// Whether `id` can name a tenant: 1 to 64 characters from `a-z 0-9 . _ -`, starting with a letter or digit.
    /// Never `/`, which stores use to put the tenant in front of the tenant's own ids.
    public static func isValidTenant(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard (1...64).contains(utf8.count), let first = utf8.first, isLowerAlphanumeric(first) else { return false }
        return utf8.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Whether the caller holds `role`; `admin` holds every role.
    public func has(_ role: Role) -> Bool { roles.contains(role) || roles.contains(.admin) }
}

/// A permission a credential carries.
public struct Role: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Reads: accounts, authorities, test status and data.
    public static let read = Role(rawValue: "read")
    /// Account changes: link, unlink, sync, authorities, zones, signals.
    public static let write = Role(rawValue: "write")
    /// Placing accounts on and off test.
    public static let testControl = Role(rawValue: "test-control")
    /// Everything.
    public static let admin = Role(rawValue: "admin")

    public static let all: [Role] = [.read, .write, .testControl, .admin]

    /// `roles` sorted and comma-separated, e.g. `read,write`: how keys list and store them.
    public static func list(_ roles: Set<Role>) -> String { roles.sorted().map(\.rawValue).joined(separator: ",") }

    public var description: String { rawValue }
    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}
