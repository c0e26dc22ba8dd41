public import NIOCore

/// How a connection reads until a caller authenticates on it (`ConnectionTrust`): at most one buffer of
/// `InboundMemoryBudget.untrustedAllowance` (16 KiB) per event-loop pass, so that it stops within one read of where a
/// handler holds back the next `read()`. With the bootstrap's settings NIO's read loop goes on for 16 reads of up to
/// 64 KiB after that: a thousand keyless native connections each holding the start of a 4 MiB frame took the server
/// up by about 1 MiB each (989 MiB), and an HTTP/1.1 client's burst of pipelined requests was read, parsed and held
/// whole (a megabyte of requests per connection) while its first request ran.
///
/// Set at accept when the server authenticates callers, so that the first reads, protocol detection's included, are
/// small too. Every protocol's connection reads as the bootstrap says once a caller has authenticated on it: each
/// keeps one of these and lifts it (gRPC's in `GRPCReadGate`). gRPC connections used to be lifted at detection,
/// since HTTP/2 flow control bounds what a stream sends; but not what the connection's new streams cost, and a
/// keyless client's megabyte of 45-byte HEADERS frames (calls of unknown methods) held an event loop for seconds.
public struct UntrustedReads: Sendable {
    /// Whether the connection still reads small.
    public private(set) var limited: Bool

    /// `limited` as the accept set it: when the connection's trust starts untrusted.
    public init(_ trust: ConnectionTrust) { limited = !trust.isTrusted }

    /// Gives the connection the bootstrap's reads once a caller has authenticated on it.
    public mutating func liftOnceTrusted(_ trust: ConnectionTrust, on channel: any Channel) {
        guard limited, trust.isTrusted else { return }
        limited = false
        Self.set(false, on: channel)
    }

    /// Applies the untrusted reading (`limited`) or the bootstrap's (16 adaptive reads per pass).
    static func set(_ limited: Bool, on channel: any Channel) {
        guard let options = channel.syncOptions else { return }
        try? options.setOption(.maxMessagesPerRead, value: limited ? UInt(1) : TCPServer.maxMessagesPerRead)
        try? options.setOption(
            .recvAllocator,
            value: limited
                ? FixedSizeRecvByteBufferAllocator(capacity: InboundMemoryBudget.untrustedAllowance)
                : AdaptiveRecvByteBufferAllocator())
    }
}
