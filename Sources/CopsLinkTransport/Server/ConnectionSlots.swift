import NIOCore

/// The connections a server holds, at most `limit`, and which one to close to make room for a new one.
///
/// At the limit a new connection takes the place of the oldest one on which no caller has authenticated
/// (`ConnectionTrust`), which is closed; only when every connection has an authenticated caller is the new one refused.
/// Otherwise a client without a key could hold every slot with idle connections, reopening each as the idle timeout
/// closes it, and lock every other client out; now it can only take slots from itself and from other connections
/// that have not authenticated, oldest first, while a new client's connection is the youngest and has the time of
/// as many connections as the server holds to authenticate. A server that authenticates nobody trusts every
/// connection (`ConnectionTrust(trusted: true)`) and refuses at the limit, as before.
///
/// No NIO beyond its ring buffer, and no locking: the server keeps it under its lock.
struct ConnectionSlots<Connection> {
    /// What happens to a connection asking for a slot.
    enum Admission {
        case admitted
        /// Admitted in place of `closing`, which the caller closes; it has already left the slots.
        case admittedClosing(Connection)
        case refused
    }

    let limit: Int
    private var open: [ObjectIdentifier: Entry] = [:]
    /// Connections admitted untrusted, oldest first, by id and admission number. An entry stays here after its
    /// connection closed or became trusted, until it reaches the front or the buffer is compacted (it never holds more
    /// than twice the open connections plus 16, below). The number tells a connection from a later one at the same
    /// address (an id is an object's address, reused once it is freed).
    private var untrusted = CircularBuffer<(id: ObjectIdentifier, admission: UInt64)>()
    private var admissions: UInt64 = 0

    private struct Entry {
        let connection: Connection
        let trust: ConnectionTrust
        let admission: UInt64
    }

    init(limit: Int) { self.limit = limit }

    var count: Int { open.count }

    var connections: [Connection] { open.values.map(\.connection) }

    /// Admits the connection `id` unless the slots are full of connections with authenticated callers.
    mutating func admit(_ id: ObjectIdentifier, _ connection: Connection, trust: ConnectionTrust) -> Admission {
        var admission = Admission.admitted
        if open.count >= limit {
            guard let oldest = takeOldestUntrusted() else { return .refused }
            admission = .admittedClosing(oldest)
        }
        admissions += 1
        open[id] = Entry(connection: connection, trust: trust, admission: admissions)
        if !trust.isTrusted {
            untrusted.append((id, admissions))
            if untrusted.count > 2 * open.count + 16 { compact() }
        }
        return admission
    }

    /// Forgets a closed connection (nothing if it already left, closed to make room).
    mutating func remove(_ id: ObjectIdentifier) {
        open.removeValue(forKey: id)
    }

    /// Removes and returns the oldest open connection without an authenticated caller, dropping the ids before it
    /// that closed or became trusted.
    private mutating func takeOldestUntrusted() -> Connection? {
        while let (id, admission) = untrusted.popFirst() {
            guard let entry = open[id], entry.admission == admission, !entry.trust.isTrusted else { continue }
            open.removeValue(forKey: id)
            return entry.connection
        }
        return nil
    }

    /// Drops the ids of connections that closed or became trusted, keeping the order of the others.
    private mutating func compact() {
        let open = self.open
        untrusted = CircularBuffer(
            untrusted.lazy.filter { id, admission in open[id].map { $0.admission == admission && !$0.trust.isTrusted } ?? false })
    }

    /// Ids waiting in the untrusted order, closed and trusted ones included: for tests of its bound.
    var untrustedOrderCount: Int { untrusted.count }
}
