import Testing

@testable import CopsLinkTransport

/// The connection limit's rule (`ConnectionSlots`): at the limit a new connection replaces the oldest one on which no
/// caller has authenticated; only a server full of authenticated connections refuses.
@Suite("Connection slots")
struct ConnectionSlotsTests {
    /// A connection: its number, for the assertions, and the object whose identity is its id.
    final class Connection {
        let number: Int
        init(_ number: Int) { self.number = number }
        var id: ObjectIdentifier { ObjectIdentifier(self) }
    }

    /// Admits connection `number` with `trust`; returns the number of the connection it replaced, 0 if none, or nil
    /// when refused.
    static func admit(_ slots: inout ConnectionSlots<Connection>, _ connection: Connection, _ trust: ConnectionTrust) -> Int?? {
        switch slots.admit(connection.id, connection, trust: trust) {
        case .admitted: .some(nil)
        case .admittedClosing(let closing): .some(closing.number)
        case .refused: nil
        }
    }

    @Test func belowTheLimitEveryConnectionIsAdmitted() {
        var slots = ConnectionSlots<Connection>(limit: 3)
        let connections = (1...3).map(Connection.init)
        for connection in connections {
            #expect(Self.admit(&slots, connection, ConnectionTrust(trusted: false)) == .some(nil))
        }
        #expect(slots.count == 3)
    }

    @Test func atTheLimitTheOldestUntrustedConnectionMakesRoom() {
        var slots = ConnectionSlots<Connection>(limit: 3)
        let connections = (1...6).map(Connection.init)
        let trusts = (1...6).map { _ in ConnectionTrust(trusted: false) }
        for index in 0..<3 { _ = Self.admit(&slots, connections[index], trusts[index]) }
        trusts[0].grant()  // the oldest authenticated: it stays
        #expect(Self.admit(&slots, connections[3], trusts[3]) == .some(2))
        #expect(Self.admit(&slots, connections[4], trusts[4]) == .some(3))
        #expect(slots.count == 3)
        #expect(Set(slots.connections.map(\.number)) == [1, 4, 5])
        // A replaced connection's own close callback finds nothing to remove.
        slots.remove(connections[1].id)
        #expect(slots.count == 3)
    }

    @Test func aServerFullOfAuthenticatedConnectionsRefuses() {
        var slots = ConnectionSlots<Connection>(limit: 2)
        let first = ConnectionTrust(trusted: false)
        _ = Self.admit(&slots, Connection(1), first)
        _ = Self.admit(&slots, Connection(2), ConnectionTrust(trusted: true))
        first.grant()
        #expect(Self.admit(&slots, Connection(3), ConnectionTrust(trusted: false)) == nil)
        #expect(Set(slots.connections.map(\.number)) == [1, 2])
    }

    @Test func aServerThatAuthenticatesNobodyRefusesAtTheLimit() {
        var slots = ConnectionSlots<Connection>(limit: 1)
        _ = Self.admit(&slots, Connection(1), ConnectionTrust(trusted: true))
        #expect(Self.admit(&slots, Connection(2), ConnectionTrust(trusted: true)) == nil)
    }

    @Test func closedConnectionsFreeTheirSlotsAndAreSkipped() {
        var slots = ConnectionSlots<Connection>(limit: 2)
        let (first, second, third) = (Connection(1), Connection(2), Connection(3))
        _ = Self.admit(&slots, first, ConnectionTrust(trusted: false))
        _ = Self.admit(&slots, second, ConnectionTrust(trusted: false))
        slots.remove(first.id)
        #expect(Self.admit(&slots, third, ConnectionTrust(trusted: false)) == .some(nil))
        // The first's id is still at the front of the order: skipped, and the second replaced.
        #expect(Self.admit(&slots, Connection(4), ConnectionTrust(trusted: false)) == .some(2))
    }

    /// A long-lived untrusted connection at the front of the order while a million others come and go: the order
    /// would keep every one of their ids without compaction.
    @Test func theOrderStaysBoundedWhileConnectionsComeAndGo() {
        var slots = ConnectionSlots<Connection>(limit: 10)
        let oldest = Connection(0)
        _ = Self.admit(&slots, oldest, ConnectionTrust(trusted: false))
        var largest = 0
        for number in 1...100_000 {
            let connection = Connection(number)
            _ = Self.admit(&slots, connection, ConnectionTrust(trusted: false))
            slots.remove(connection.id)
            largest = max(largest, slots.untrustedOrderCount)
        }
        #expect(largest <= 2 * 2 + 16 + 1)
        #expect(slots.count == 1)
        // The survivor is still first in line.
        for number in 1...9 { _ = Self.admit(&slots, Connection(number), ConnectionTrust(trusted: true)) }
        #expect(Self.admit(&slots, Connection(10), ConnectionTrust(trusted: true)) == .some(0))
    }
}

extension ConnectionSlotsTests {
    /// An id is an object's address: a connection freed and a new one at the same address must not take the old one's
    /// place in the order.
    @Test func aNewConnectionWithAnOldOnesIDKeepsItsOwnPlace() {
        var slots = ConnectionSlots<ObjectIdentifier>(limit: 2)
        let (a, b) = (ObjectIdentifier(Connection.self), ObjectIdentifier(Int.self))
        _ = slots.admit(a, a, trust: ConnectionTrust(trusted: false))
        _ = slots.admit(b, b, trust: ConnectionTrust(trusted: false))
        slots.remove(a)
        // `a` again, now the youngest: `b` is the oldest untrusted connection.
        _ = slots.admit(a, a, trust: ConnectionTrust(trusted: false))
        let c = ObjectIdentifier(String.self)
        guard case .admittedClosing(let closed) = slots.admit(c, c, trust: ConnectionTrust(trusted: false)) else {
            Issue.record("not admitted in place of another")
            return
        }
        #expect(closed == b)
    }
}
