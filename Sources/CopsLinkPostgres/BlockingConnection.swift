import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A leased connection used synchronously: each query waits for postgres-nio's future on the calling thread.
///
/// The store's seam is synchronous (a transaction body is straight-line code), so bodies run on the store's own
/// threads (`StoreThreads`), where blocking is what they are for. Waiting on an event loop would deadlock it, and
/// waiting on a thread of Swift's concurrency pool would starve every task behind it: in debug builds each query
/// checks that it runs on a store thread.
struct BlockingConnection {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs `query` and returns every row.
    @discardableResult
    func rows(_ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try result(query).rows.map { $0.makeRandomAccess() }
    }

    /// Runs `query` and returns its first row, if any.
    func row(_ query: PostgresQuery) throws -> PostgresRandomAccessRow? {
        try result(query).rows.first.map { $0.makeRandomAccess() }
    }

    /// Runs `query`; returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> Int {
        try result(query).metadata.rows ?? 0
    }

    /// Runs `first`, then `second`, with one wait: postgres-nio queues `second` on the connection and sends it when
    /// `first` is answered, without waking this thread in between. `second` is sent whether or not `first` succeeds.
    /// Throws `first`'s error if it failed, else `second`'s, unless `ignoringSecondError`.
    func execute(_ first: PostgresQuery, then second: PostgresQuery, ignoringSecondError: Bool = false) throws {
        StoreThreads.assertOnStoreThread()
        let firstResult = connection.query(first, logger: logger)
        let secondResult = connection.query(second, logger: logger)
        do {
            _ = try firstResult.wait()
        } catch {
            _ = try? secondResult.wait()
            throw error
        }
        if ignoringSecondError {
            _ = try? secondResult.wait()
        } else {
            _ = try secondResult.wait()
        }
    }

    private func result(_ query: PostgresQuery) throws -> PostgresQueryResult {
        StoreThreads.assertOnStoreThread()
        return try connection.query(query, logger: logger).wait()
    }
}

extension PostgresRandomAccessRow {
    /// The column named `name`, decoded.
    func value<Value: PostgresDecodable>(_ name: String, as type: Value.Type = Value.self) throws -> Value {
        try self[name].decode(Value.self)
    }

    /// A column stored as BIGINT that holds a `UInt32` (enum raw values, priorities, partitions): the store wrote it
    /// from a `UInt32`, so it fits; anything else is truncated rather than trapped on.
    func uint32(_ name: String) throws -> UInt32 {
        UInt32(truncatingIfNeeded: try value(name, as: Int64.self))
    }

    func bytes(_ name: String) throws -> [UInt8] {
        Array(try value(name, as: ByteBuffer.self).readableBytesView)
    }

    func optionalBytes(_ name: String) throws -> [UInt8]? {
        try value(name, as: ByteBuffer?.self).map { Array($0.readableBytesView) }
    }
}

extension Array where Element == UInt8 {
    /// For a BYTEA parameter.
    var byteBuffer: ByteBuffer { ByteBuffer(bytes: self) }
}
