/// The bearer token of an API key: `clk_<id>_<secret>`.
///
/// The id (16 hex digits) is public and names the key in listings and logs; the secret (64 hex digits, 256 random
/// bits) is shown once, when the key is created, and only its SHA-256 is stored.
public struct APIKeyToken: Sendable, Hashable, CustomStringConvertible {
    public static let prefix = "clk_"
    /// Characters of a token: prefix, 16-digit id, `_`, 64-digit secret.
    public static let length = 4 + 16 + 1 + 64

    public var id: String
    public var secret: String

    public init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// A fresh key: id and secret from the system's cryptographically secure generator.
    public static func generate() -> APIKeyToken {
        var generator = SystemRandomNumberGenerator()
        return APIKeyToken(id: hex(count: 8, using: &generator), secret: hex(count: 32, using: &generator))
    }

    /// Parses a token; nil unless it has exactly the documented shape.
    public init?(parsing token: String) {
        // The length first: a long hostile header is refused without splitting it.
        guard token.utf8.count == Self.length, token.hasPrefix(Self.prefix) else { return nil }
        let parts = token.dropFirst(Self.prefix.count).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 16, parts[1].utf8.count == 64,
            parts.allSatisfy({ $0.utf8.allSatisfy(Self.isLowerHex) })
        else { return nil }
        self.init(id: String(parts[0]), secret: String(parts[1]))
    }

    /// The whole token, secret included: print it once, never log it.
    public var token: String { "\(Self.prefix)\(id)_\(secret)" }

    public var secretHash: [UInt8] { SecretHash.sha256(secret.utf8) }

    /// Redacted: the id only.
    public var description: String { "\(Self.prefix)\(id)_…" }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func hex(count: Int, using generator: inout SystemRandomNumberGenerator) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(count * 2)
        for _ in 0..<count {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
