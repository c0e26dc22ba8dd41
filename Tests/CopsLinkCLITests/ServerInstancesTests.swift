import CopsLinkCommandLine
import CopsLinkTransport
import Testing

/// `--server` names instances: an address each, and one per address of a name that resolves to several.
@Suite("Server instances from --server")
struct ServerInstancesTests {
    private static let base = ClientConfiguration(host: "unused", port: 1)

    private static func resolver(_ table: [String: [String]]) -> (String) -> [String] {
        { name in table[name] ?? [] }
    }

    @Test func aNameWithSeveralAddressesIsOneInstancePerAddressCheckedAgainstTheName() {
        let instances = ServerInstances.configurations(
            for: [(host: "copslink.internal", port: 7420), (host: "10.0.0.9", port: 7421)], base: Self.base,
            resolve: Self.resolver(["copslink.internal": ["10.0.0.1", "10.0.0.2", "fd00::3"]]))
        #expect(instances.map(\.host) == ["10.0.0.1", "10.0.0.2", "fd00::3", "10.0.0.9"])
        #expect(instances.map(\.port) == [7420, 7420, 7420, 7421])
        #expect(instances.map(\.tlsServerName) == ["copslink.internal", "copslink.internal", "copslink.internal", nil])
    }

    @Test func aNameWithOneAddressOrNoneOrOnlyLoopbackStaysTheName() {
        let instances = ServerInstances.configurations(
            for: [(host: "one.internal", port: 1), (host: "unknown.internal", port: 2), (host: "localhost", port: 3)],
            base: Self.base,
            resolve: Self.resolver(["one.internal": ["10.0.0.1"], "localhost": ["::1", "127.0.0.1"]]))
        #expect(instances.map(\.host) == ["one.internal", "unknown.internal", "localhost"])
        #expect(instances.allSatisfy { $0.tlsServerName == nil })
    }

    @Test func numericAddressesAreNotLookedUpAndAGivenServerNameIsKept() {
        var base = Self.base
        base.tlsServerName = "copslink.example"
        var lookedUp: [String] = []
        let instances = ServerInstances.configurations(
            for: [(host: "10.0.0.1", port: 1), (host: "::1", port: 2), (host: "pool.internal", port: 3)], base: base,
            resolve: { name in
                lookedUp.append(name)
                return ["10.0.1.1", "10.0.1.2"]
            })
        #expect(lookedUp == ["pool.internal"])
        #expect(instances.map(\.host) == ["10.0.0.1", "::1", "10.0.1.1", "10.0.1.2"])
        #expect(instances.allSatisfy { $0.tlsServerName == "copslink.example" })
    }

    @Test func theSystemResolverGivesNumericAddresses() {
        #expect(ServerInstances.addresses(of: "127.0.0.1") == ["127.0.0.1"])
        #expect(ServerInstances.addresses(of: "localhost").contains { $0 == "127.0.0.1" || $0 == "::1" })
        #expect(ServerInstances.addresses(of: "no-such-host.invalid").isEmpty)
    }
}
