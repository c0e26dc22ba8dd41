public import NIOCore

/// A connection's handshake timeout that does not count the time the server held the client's bytes back: while the
/// keyless share is spent, `KeylessPacer` keeps a new connection's first bytes until its turn, and a client whose
/// preface had arrived in time was told `no preface within 10s` (a TLS ClientHello flood, attacker round 4). When the
/// timer fires, the deadline moves by the time the connection's bytes waited for the share and was not yet credited,
/// up to one more timeout in all: a client that sent nothing in time is still closed, at most twice as late.
public struct HandshakeDeadline: Sendable {
    public let timeout: Duration
    /// The time already added to the deadline.
    private var credited = TimeAmount.zero

    public init(timeout: Duration) { self.timeout = timeout }

    /// At the timer, given how long the connection's bytes have waited for the keyless share in all: how much longer
    /// to wait, or nil when the handshake has timed out.
    public mutating func postponement(waited: TimeAmount) -> TimeAmount? {
        let owed = min(waited, TimeAmount(timeout)) - credited
        guard owed > .zero else { return nil }
        credited = credited + owed
        return owed
    }

    /// The same, with the wait read from the connection's pacer in `pipeline` (none: nothing waited).
    public mutating func postponement(for pipeline: ChannelPipeline.SynchronousOperations, at now: NIODeadline) -> TimeAmount? {
        guard let pacer = try? pipeline.handler(type: KeylessPacer.self) else { return nil }
        return postponement(waited: pacer.timeWaited(at: now))
    }
}
