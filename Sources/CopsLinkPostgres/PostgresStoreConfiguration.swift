import Foundation
import PostgresNIO

/// Where the PostgreSQL store connects, and how many connections it holds.
///
/// Made from a `postgres://` or `postgresql://` URL (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`);
/// the password may also come from elsewhere (`PGPASSWORD`, a file), so that it need not be on a command line.
public struct PostgresStoreConfiguration: Sendable {
    public enum TLSMode: String, Sendable {
        /// Plaintext only.
        case disable
        /// TLS if the server offers it (libpq's default).
        case prefer
        /// TLS or no connection; the server's certificate is checked against the system's roots.
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Connections held at most, and as many threads running transaction bodies: a transaction holds one of each
    /// for its length.
    public var poolSize: Int
    /// The schema the store's tables live in (its connections' `search_path`); nil: the user's default, `public`.
    /// Tests give each store its own.
    public var schema: String?
    /// How often a write transaction that PostgreSQL aborted as a serialization failure (another writer changed what
    /// it read) is run again before the call fails `UNAVAILABLE`.
    public var serializationRetries: Int

    public static let defaultPoolSize = 8
    public static let defaultSerializationRetries = 20

    public init(
        host: String, port: Int = 5432, username: String, password: String? = nil, database: String, tls: TLSMode = .prefer,
        poolSize: Int = PostgresStoreConfiguration.defaultPoolSize, schema: String? = nil,
        serializationRetries: Int = PostgresStoreConfiguration.defaultSerializationRetries
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
        self.schema = schema
        self.serializationRetries = serializationRetries
    }

    /// Whether `database` names a PostgreSQL server rather than an SQLite file.
    public static func isURL(_ database: String) -> Bool {
        database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")
    }

    /// Parses a `postgres://` URL. The password in the URL wins over `password`, which is the fallback (from
    /// `PGPASSWORD` or a file).
    public init(url text: String, password fallback: String? = nil, poolSize: Int = PostgresStoreConfiguration.defaultPoolSize) throws {
        guard Self.isURL(text), let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            throw PostgresStoreConfigurationError("not a postgres:// URL with a host: \(Self.redacted(text))")
        }
        guard let username = components.user, !username.isEmpty else {
            throw PostgresStoreConfigurationError("the URL names no user (postgres://USER@HOST/DATABASE): \(Self.redacted(text))")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresStoreConfigurationError("the URL names no database (postgres://USER@HOST/DATABASE): \(Self.redacted(text))")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"): tls = .disable
            case ("sslmode", "prefer"), ("sslmode", "allow"): tls = .prefer
            case ("sslmode", "require"), ("sslmode", "verify-ca"), ("sslmode", "verify-full"): tls = .require
            default:
                throw PostgresStoreConfigurationError(
                    "unsupported URL parameter '\(item.name)=\(item.value ?? "")' (only sslmode=disable|prefer|require)")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432, username: username.removingPercentEncoding ?? username,
            password: components.password.map { $0.removingPercentEncoding ?? $0 } ?? fallback,
            database: database.removingPercentEncoding ?? database, tls: tls, poolSize: poolSize)
    }

    /// The URL with its password replaced, for messages and logs.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "…"
        return components.string ?? "postgres://…"
    }

    /// Where this connects, without the password: for logs.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" + (schema.map { " (schema \($0))" } ?? "") }
}

public struct PostgresStoreConfigurationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension PSQLError {
    /// Why connecting failed, in the operating system's words where it has them (`connection refused`, a host name
    /// that does not resolve), else PostgresNIO's code and the first 200 characters of its cause.
    var connectionFailureText: String {
        let cause = underlying.map { String(describing: $0) } ?? ""
        for known in ["Connection refused", "timed out", "No route to host", "Network is unreachable", "Connection reset"]
        where cause.contains(known) {
            return "\(known.lowercased()) (is PostgreSQL running there?)"
        }
        if cause.contains("dnsAError: Optional") || cause.contains("Name or service not known") {
            return "the host name could not be resolved"
        }
        return cause.isEmpty ? "\(code)" : "\(code): \(cause.prefix(200))"
    }
}
