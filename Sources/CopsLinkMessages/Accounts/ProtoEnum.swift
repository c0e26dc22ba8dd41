/// A proto3 (open) enum: any wire value is kept, known ones have names.
///
/// Values outside the known set survive a decode and re-encode unchanged, as proto3 requires.
public protocol ProtoEnum: RawRepresentable, Hashable, Sendable, CustomStringConvertible where RawValue == UInt32 {
    init(rawValue: UInt32)
    /// Known values and their proto names without the enum prefix, e.g. `[1: "MOBILE"]`.
    static var names: [UInt32: String] { get }
}

extension ProtoEnum {
    public var description: String { Self.names[rawValue] ?? "\(rawValue)" }

    /// Whether the wire value is one this build knows.
    public var isKnown: Bool { Self.names[rawValue] != nil }

    /// The value as the `.proto` numbers it: an `int32` (a client's −1 arrives as 4294967295 in `rawValue`), for
    /// messages that quote it.
    public var number: Int32 { Int32(bitPattern: rawValue) }

    /// The value named `name` (case-insensitive, as in `description`), if known.
    public init?(name: String) {
        let wanted = name.uppercased()
        guard let match = Self.names.first(where: { $0.value == wanted }) else { return nil }
        self.init(rawValue: match.key)
    }
}
