/// A value of one column of a stored row, as `copslink-server migrate-store` moves it between engines: SQLite's
/// storage classes, which the target converts to its column types.
public enum StoreCopyValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A store read table by table from one consistent snapshot: the source of `migrate-store`. Used from one thread,
/// for the length of one copy.
public protocol StoreCopySource: AnyObject {
    /// The tables the store holds, besides its engine's own bookkeeping.
    func tables() throws -> [String]
    /// The columns of `table`, in their order.
    func columns(of table: String) throws -> [String]
    /// How many rows `table` holds in the snapshot.
    func rowCount(of table: String) throws -> Int64
    /// Calls `body` with each row of `table`, one at a time (the values of `columns`, in that order), so that a copy
    /// holds no more than the rows it batches. `columns` may name `rowid`, the engine's row order.
    func forEachRow(of table: String, columns: [String], _ body: ([StoreCopyValue]) throws -> Void) throws
}

/// What a store copy refused or found wrong.
public struct StoreCopyError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
