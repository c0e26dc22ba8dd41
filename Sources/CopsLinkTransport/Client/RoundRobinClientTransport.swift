public import CopsLinkCore
public import NIOCore
public import NIOPosix
import Synchronization

/// A `ClientTransport` over several instances of one service: one `TCPClientTransport` per address, each call sent
/// on the next instance that is up (round-robin), an instance taken out after UNAVAILABLE or a failed connect and
/// put back after a backoff with jitter, and a call that failed UNAVAILABLE sent again to another instance when that
/// is safe (PROTOCOL.md §14.2).
///
/// Safe means: the call provably never reached a server (no connection; refused unprocessed after GOAWAY); or its
/// method has no side effects or is idempotent (`MethodDescriptor.idempotency`, from the .proto's
/// `idempotency_level`); or it carries a request id (`copslink-request-id`), which makes the server answer a repeat
/// with its first answer, from whichever instance (the instances share one store). Every other status is the
/// server's answer and is returned as it is. A streaming call is sent to another instance only when it failed before
/// it started (no connection).
public final class RoundRobinClientTransport: EventLoopClientTransport, Sendable {
    /// One per address, in the order given, all on one event loop.
    public let transports: [TCPClientTransport]
    private let balancer: Mutex<RoundRobinBalancer>

    /// One connection per address, each configured as `configuration` with its host and port replaced, all on one
    /// event loop of `group`, so that a task preferring `executor` calls any instance without a thread switch.
    public convenience init(
        addresses: [(host: String, port: Int)], configuration: ClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.init(
            instances: addresses.map { address in
                var configuration = configuration
                configuration.host = address.host
                configuration.port = address.port
                return configuration
            },
            group: group)
    }

    /// One connection per configuration (instances that differ in more than the address, such as the TLS server
    /// name of an address found through a DNS name), all on one event loop of `group`. The first configuration's
    /// backoff applies to every instance.
    public init(instances: [ClientConfiguration], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        precondition(!instances.isEmpty, "a round-robin transport needs at least one instance")
        let eventLoop = group.next()
        transports = instances.map { TCPClientTransport(configuration: $0, group: eventLoop) }
        balancer = Mutex(RoundRobinBalancer(count: instances.count, backoff: instances[0].backoff))
    }

    /// The executor of the event loop every connection lives on.
    public var executor: EventLoopTaskExecutor { transports[0].executor }

    /// Runs `body` with a transport that is closed when it returns.
    public static func withTransport<Result: Sendable>(
        addresses: [(host: String, port: Int)], configuration: ClientConfiguration,
        _ body: (RoundRobinClientTransport) async throws -> Result
    ) async throws -> Result {
        try await RoundRobinClientTransport(addresses: addresses, configuration: configuration).closing(after: body)
    }

    /// Closes every connection.
    public func close() async {
        for transport in transports { await transport.close() }
    }

    public func unary(
        _ descriptor: MethodDescriptor, request: some RPCMessage, options: CallOptions
    ) async throws(RPCError) -> RawUnaryResponse {
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        let repeatable = descriptor.isSafeToRepeat || options.effectiveMetadata[text: Metadata.requestIDKey] != nil
        var tried: [Int] = []
        while true {
            let index = pick(excluding: tried)
            tried.append(index)
            let attempt = Self.options(options, until: deadline)
            var reachedServer = false
            do throws(RPCError) {
                let response = try await transports[index].unary(
                    descriptor, request: request, options: attempt, reachedServer: &reachedServer)
                succeeded(index)
                return response
            } catch {
                guard error.code == .unavailable else { throw error }
                failed(index)
                guard hasAnother(after: tried, before: deadline), !reachedServer || repeatable else { throw error }
            }
        }
    }

    public func withStreamingCall<Result: Sendable>(
        _ descriptor: MethodDescriptor, options: CallOptions, body: (any ClientCallStream) async throws -> Result
    ) async throws -> Result {
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        var tried: [Int] = []
        while true {
            let index = pick(excluding: tried)
            tried.append(index)
            let attempt = Self.options(options, until: deadline)
            var started = false
            do {
                let result = try await transports[index].withStreamingCall(descriptor, options: attempt) { call in
                    started = true
                    return try await body(call)
                }
                succeeded(index)
                return result
            } catch let error as RPCError where error.code == .unavailable {
                failed(index)
                guard hasAnother(after: tried, before: deadline), !started else { throw error }
            }
        }
    }

    /// `options` with the time left until the call's deadline: every try shares the call's original deadline.
    private static func options(_ options: CallOptions, until deadline: ContinuousClock.Instant?) -> CallOptions {
        var attempt = options
        if let deadline { attempt.timeout = max(.zero, deadline - .now) }
        return attempt
    }

    /// Whether an instance is left that this call has not tried, with time to try it.
    private func hasAnother(after tried: [Int], before deadline: ContinuousClock.Instant?) -> Bool {
        tried.count < transports.count && deadline.map { ContinuousClock.now < $0 } ?? true
    }

    private func pick(excluding tried: [Int]) -> Int {
        balancer.withLock { $0.pick(excluding: tried, now: .now) }
    }

    private func succeeded(_ index: Int) {
        balancer.withLock { $0.succeeded(index) }
    }

    private func failed(_ index: Int) {
        balancer.withLock { $0.failed(index, now: .now, jitter: .random(in: 0.8...1.2)) }
    }
}
