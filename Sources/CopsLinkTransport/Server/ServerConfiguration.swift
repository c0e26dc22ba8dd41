public import NIOSSL

/// Everything a `TCPServer` needs to know, with documented defaults.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    public var limits = ConnectionLimits()
    /// Connections served at once; more are refused with GOAWAY REFUSED. Default 10,000.
    public var maxConnections = 10_000
    /// Calls running at once, server-wide, over every protocol; past it a call is answered RESOURCE_EXHAUSTED. The
    /// per-connection limit alone would let 10,000 connections hold a million calls (a gRPC call costs about 16 KiB
    /// before it has a message). 0 disables it. Default 10,000.
    public var maxConcurrentCalls = 10_000
    /// Calls of the methods open without a key that take one request and are still waiting for it, server-wide
    /// (`CallDispatcher.maxOpenCallsAwaitingRequest`); past it such a call is answered RESOURCE_EXHAUSTED. A call that
    /// brings its request (as probes do) is never counted. 0 disables it. Default 1,000.
    public var maxOpenCallsAwaitingRequest = 1_000
    /// Server-initiated pings. Default every 60 s, 20 s to answer.
    public var keepalive = KeepaliveConfiguration(interval: .seconds(60), timeout: .seconds(20))
    public var pingPolicy = PingPolicy()
    /// A connection that has not sent its preface and SETTINGS within this time of connecting is closed. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)
    /// A connection without calls (no REQUEST, none in flight) for this long gets GOAWAY IDLE_TIMEOUT and is closed;
    /// nil keeps it. Default 5 min.
    public var idleTimeout: Duration? = .seconds(300)
    /// A frame whose first bytes have arrived but whose rest has not within this time gets GOAWAY PROTOCOL_ERROR
    /// and the connection is closed (a slowloris defence: a peer trickling a frame a byte at a time would otherwise
    /// hold a connection and its buffer for ever). nil disables it. Default 30 s, so that a maximum-size frame (4 MiB)
    /// still arrives over a link of about 1.1 Mbit/s.
    public var frameReadTimeout: Duration? = .seconds(30)
    /// Outbound bytes written to a connection and not yet taken by its socket, above which the connection is
    /// unwritable: the server stops reading from it and dispatching its calls, and streaming handlers wait in `send`,
    /// until the bytes drain below `outboundLowWaterMark`. A client that sends and never reads therefore holds at
    /// most this much of the server's output, plus the answers of the calls already running. Default 256 KiB.
    public var outboundHighWaterMark = 256 << 10
    /// See `outboundHighWaterMark`. Default 64 KiB.
    public var outboundLowWaterMark = 64 << 10
    /// A connection that stays unwritable this long (its client reads nothing of what the server sent) gets GOAWAY
    /// ENHANCE_YOUR_CALM and is closed; nil keeps it. Default 30 s.
    public var unwritableTimeout: Duration? = .seconds(30)
    /// Bytes a connection may hold in calls whose request stream is still open (messages received, END_STREAM not
    /// yet received, not yet taken by the handler), each message counting its payload plus
    /// `InboundMemoryBudget.waitingMessageOverhead`. The call whose message would pass it ends RESOURCE_EXHAUSTED.
    /// Default 8 MiB: two messages of the maximum frame size.
    public var maxUnfinishedRequestBytesPerConnection = 8 << 20
    /// The server-wide budget of inbound bytes held between reads (`InboundMemoryBudget`): partial frames in
    /// connection readers and the unfinished requests of every connection. Past it new calls get RESOURCE_EXHAUSTED,
    /// new connections are refused in their own protocol's words (native GOAWAY REFUSED, gRPC GOAWAY
    /// ENHANCE_YOUR_CALM, HTTP 503), and connections that would buffer a partial frame stop reading until bytes are
    /// released. Default 64 MiB.
    public var maxBufferedInboundBytes = 64 << 20
    /// The server-wide budget of answer bytes held for clients that do not take them (`UnreadAnswerBudget`): the
    /// sockets of unwritable connections (counted from the outbound high-water mark), native streaming messages
    /// waiting for credit, gRPC answer DATA not yet taken by the socket. Past it a connection that becomes unwritable
    /// is closed (GOAWAY ENHANCE_YOUR_CALM), a message that would wait for credit ends its call RESOURCE_EXHAUSTED, a
    /// gRPC stream whose answer would be held is reset (ENHANCE_YOUR_CALM) and new gRPC calls are refused. Default
    /// 256 MiB.
    public var maxUnreadAnswerBytes = 256 << 20
    /// One API key's share of `maxUnreadAnswerBytes` (answers waiting for its calls, and the sockets of connections on
    /// which its callers authenticated first): past it that key's holdings are refused as above, and its new calls
    /// until it is under three quarters of the share; other keys' are not. Nil: a quarter of it.
    public var maxUnreadAnswerBytesPerKey: Int?
    /// Bytes of request messages running handlers may hold, server-wide (`HeldRequestBudget`): a request over 4 KiB
    /// counts from when its handler takes it until the handler returns, and one that would pass this (or its API key's
    /// share, `maxHeldRequestBytesPerKey`) is refused RESOURCE_EXHAUSTED before its handler runs. 0: no bound.
    /// Default 64 MiB.
    public var maxHeldRequestBytes = 64 << 20
    /// One API key's share of `maxHeldRequestBytes`; nil: a quarter of it.
    public var maxHeldRequestBytesPerKey: Int?
    /// A call without a deadline, or of a method taking one request whatever its deadline, whose client sends nothing
    /// on the request stream (no message, no END_STREAM) for this long ends DEADLINE_EXCEEDED, releasing what it
    /// holds; nil lets such a call wait for ever. Default 30 s.
    public var requestIdleTimeout: Duration? = .seconds(30)
    /// UNAUTHENTICATED answers on one connection after which the server sends GOAWAY ENHANCE_YOUR_CALM and closes
    /// it: guessing keys costs a new connection each few tries. Default 3.
    public var maxUnauthenticatedCalls = 3
    /// The fraction of each event loop's time that connections on which no caller has authenticated may take
    /// together, when the server authenticates callers (`KeylessPacing`): past it their reads wait, least-served
    /// connection first. 1 turns the pacing off; values are taken into 0.01...1. Default 0.5.
    public var keylessShare = 0.5
    /// Time keyless connections save up while they take less than `keylessShare`, spent unpaced (taken into 0...1 h).
    /// Default 100 ms.
    public var keylessBurst: Duration = .milliseconds(100)
    /// Failed-call log lines one connection may cause at once (`FailureLogBudget`), and the lines per second it earns
    /// back. Default 20 and 1.
    public var failedCallLogBurst = 20
    public var failedCallLogPerSecond = 1
    /// The same for every connection together (`FailureLogBudget.server`): lines of failed calls, and the lines about
    /// connections themselves (closing one, its first refusal at a limit). Without it a client that opens
    /// connections, fails calls on each and closes them gets a fresh burst each time. Default 1,000 and 100.
    public var serverLogBurst = 1_000
    public var serverLogPerSecond = 100
    /// How long in-flight calls may run after a graceful shutdown begins. Default 10 s.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// The protocols the port speaks, each connection one, chosen from its first bytes (PROTOCOL.md §2.1). Default
    /// all: native, HTTP/JSON and gRPC. `[.native]` answers anything but the CopsLink preface with the readable
    /// rejection line; without `.native`, bytes of no enabled protocol get `ProtocolDetection.notServedLine`.
    public var protocols: Set<ServerProtocol> = Set(ServerProtocol.allCases)
    /// Largest HTTP/JSON request body (PROTOCOL.md §16), a client-streaming method's whole newline-delimited body
    /// included: a longer one is answered 413 RESOURCE_EXHAUSTED and the connection closes. Default 8 MiB (a native
    /// message may take 4 MiB; its JSON is larger).
    public var httpJSONMaxBodyBytes = 8 << 20
    /// A connection this old (counted from its handshake) gets GOAWAY `NO_ERROR` and drains: calls it had started may finish within
    /// `maxConnectionAgeGrace`, later ones are refused UNAVAILABLE, and clients reconnect, so that long-lived
    /// connections spread again over the instances behind a TCP load balancer (gRPC's MAX_CONNECTION_AGE). Each
    /// connection's age is jittered by ±10 %, so that connections opened together do not all leave together. nil (the
    /// default) keeps connections for as long as they are used.
    public var maxConnectionAge: Duration?
    /// How long the calls of a connection that reached `maxConnectionAge` may still run; then they end UNAVAILABLE and
    /// the connection closes. Default 30 s.
    public var maxConnectionAgeGrace: Duration = .seconds(30)

    /// `age` moved by `unit` × 10 % (`unit` in -1...1): the maximum age one connection gets.
    static func jittered(_ age: Duration, by unit: Double) -> Duration {
        let milliseconds = Double(age.components.seconds) * 1000 + Double(age.components.attoseconds / 1_000_000_000_000_000)
        return .milliseconds(Int64((milliseconds * (1 + 0.1 * min(1, max(-1, unit)))).rounded()))
    }
    /// Run each call's handler task on its connection's event loop, starting it at once inside the read that opened
    /// the call (no thread switch between the connection and the handler; a handler that does not suspend answers
    /// in the same event-loop pass). Handlers must then not block; ones that do heavy CPU work should set this to
    /// false, which runs them on Swift's global executor. Default true.
    public var runsHandlersOnEventLoop = true
    /// How long an HTTP/JSON request stream's handler pauses between turns of lines (`HTTPJSONCall.linesPerTurn`),
    /// so that the event loop serves its other connections meanwhile. Not a setting: tests lengthen it to see it.
    @_spi(ConnectionHarness) public var httpJSONStreamPause: Duration = .milliseconds(1)
    /// TLS for every connection (swift-nio-ssl); nil serves plaintext. Set `certificateVerification` and
    /// `trustRoots` to require client certificates (mutual TLS). See `TLSFiles`. Default nil.
    public var tls: TLSConfiguration?
    /// Logged as a warning for every new native connection (within the server's log budget, `serverLogBurst`), e.g.
    /// that authentication is disabled. Default none.
    public var connectionWarning: String?
    /// Build-time server version reported by the server-info call.
    public var serverVersion = "0.1.0"

    public init(host: String = "127.0.0.1", port: Int = 0) {
        self.host = host
        self.port = port
    }
}

/// Everything a `TCPClientTransport` needs to know, with documented defaults.
public struct ClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var limits = ConnectionLimits()
    /// Client pings. Default every 30 s, 10 s to answer.
    public var keepalive = KeepaliveConfiguration(interval: .seconds(30), timeout: .seconds(10))
    /// Time to open the connection and receive the server's SETTINGS. Default 5 s.
    public var connectTimeout: Duration = .seconds(5)
    /// Calls waiting for a free slot under the server's max concurrent calls; one more fails RESOURCE_EXHAUSTED.
    /// Default 10,000.
    public var maxQueuedCalls = 10_000
    /// TLS to the server (swift-nio-ssl); nil connects in plaintext. Default nil. Its `shutdownTimeout` is capped at
    /// 1 s: closing waits at most that long for the server's `close_notify`.
    public var tls: TLSConfiguration?
    /// Whether calls carrying an API key (`authorization` metadata) may go in plaintext (`tls` nil) to a host that
    /// is not loopback. Default false: such a call fails FAILED_PRECONDITION before anything is sent
    /// (`plaintextCredentialsRefusal`).
    public var allowsPlaintextCredentials = false
    /// The name the server's certificate must carry (and SNI), when it is not `host`. Default nil (`host`, unless
    /// `host` is an IP address, which is then checked against the certificate's IP addresses).
    public var tlsServerName: String?
    /// Reconnect backoff after a failed connect: first delay, growth factor, cap.
    public var backoff = Backoff()

    public struct Backoff: Sendable, Hashable {
        public var initial: Duration = .milliseconds(100)
        public var multiplier: Double = 2
        public var maximum: Duration = .seconds(10)
        public init() {}
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
