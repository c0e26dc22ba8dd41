/// How a test reaches the service under test. Run one test body over both with
/// `@Test(arguments: TestTransport.allCases)`: the in-process run is fast and has no sockets, the TCP run is what a
/// deployed service sees.
public enum TestTransport: String, CaseIterable, Sendable, CustomStringConvertible {
    /// A `TCPServer` on 127.0.0.1 (port 0) and a `TCPClientTransport` connected to it: preface, SETTINGS, framing,
    /// flow control, keepalive, GOAWAY and TLS (if configured) as in production.
    case tcp
    /// An `InProcessTransport`: no sockets, but messages are still encoded and decoded, and deadlines, cancellation
    /// and per-call message windows behave as over TCP.
    case inProcess

    public var description: String { rawValue }
}
