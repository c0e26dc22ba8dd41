import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkTransport
import Testing

/// An API key does not leave the machine in plaintext unless the configuration says it may.
@Suite("Plaintext credentials")
struct PlaintextCredentialsTests {
    /// 192.0.2.0/24 is TEST-NET-1 (RFC 5737): nothing answers there, so a call that is not refused fails UNAVAILABLE.
    static let remoteHost = "192.0.2.5"
    static let withKey = CallOptions(timeout: .seconds(2), metadata: ["authorization": .text("Bearer clk_secret")])

    func checkCode(_ configuration: ClientConfiguration, options: CallOptions) async -> RPCError? {
        do {
            _ = try await TCPClientTransport.withTransport(configuration: configuration) { transport in
                try await Health.Client(wrapping: RPCClient(transport: transport)).check(options: options)
            }
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    func remote(connectTimeout: Duration = .milliseconds(200)) -> ClientConfiguration {
        var configuration = ClientConfiguration(host: Self.remoteHost, port: 7420)
        configuration.connectTimeout = connectTimeout
        return configuration
    }

    @Test(arguments: [
        ("localhost", true), ("LOCALHOST", true), ("127.0.0.1", true), ("127.255.0.9", true), ("::1", true),
        ("0:0:0:0:0:0:0:1", true), ("::ffff:127.0.0.1", true), ("10.0.0.5", false), ("128.0.0.1", false),
        ("::2", false), ("::ffff:10.0.0.1", false), ("example.com", false), ("localhost.example.com", false), ("", false),
        ("127.0.0.1.example.com", false)
    ])
    func loopbackIsThisMachineOnly(host: String, isLoopback: Bool) {
        #expect(ClientConfiguration.isLoopback(host: host) == isLoopback)
    }

    @Test func aKeyIsNotSentInPlaintextToAnotherHost() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        // A connect attempt to this address would wait out the minute (nothing answers there), far past the bound
        // below; the bound is loose because a loaded CI run can hold a test for seconds.
        let error = await checkCode(remote(connectTimeout: .seconds(60)), options: Self.withKey)
        #expect(error?.code == .failedPrecondition)
        #expect(
            error?.message == "refusing to send an API key in plaintext to 192.0.2.5:7420; configure TLS, or set allowsPlaintextCredentials"
        )
        #expect(clock.now - start < .seconds(30), "refused before connecting")
        // Streaming calls too.
        do {
            _ = try await TCPClientTransport.withTransport(configuration: remote()) { transport in
                try await transport.withStreamingCall(Health.Method.check, options: Self.withKey) { _ in }
            }
            Issue.record("the streaming call was not refused")
        } catch let error as RPCError {
            #expect(error.code == .failedPrecondition)
        }
    }

    @Test func withoutAKeyOrWithPermissionTheCallIsAttempted() async throws {
        let withoutKey = await checkCode(remote(), options: CallOptions(timeout: .seconds(2)))
        #expect(withoutKey?.code == .unavailable)
        var allowed = remote()
        allowed.allowsPlaintextCredentials = true
        let permitted = await checkCode(allowed, options: Self.withKey)
        #expect(permitted?.code == .unavailable)
    }

    @Test func theRefusalNamesTheAddressAndTheAdvice() {
        var configuration = ClientConfiguration(host: "fd00::5", port: 7420)
        let refusal = configuration.plaintextCredentialsRefusal(metadata: ["authorization": .text("Bearer x")], advice: "use --tls")
        #expect(refusal?.message == "refusing to send an API key in plaintext to [fd00::5]:7420; use --tls")
        configuration.host = "::1"
        #expect(configuration.plaintextCredentialsRefusal(metadata: ["authorization": .text("Bearer x")]) == nil)
    }
}
