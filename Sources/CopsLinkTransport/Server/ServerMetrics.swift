public import CopsLinkCore
public import CoreMetrics
public import NIOCore
import Synchronization

/// The metrics a `TCPServer` records, created once when the server is made, through the swift-metrics API.
///
/// Nothing here is created or named per call: every method's series exist from start-up (the router's paths are the
/// only `method` labels, plus `unknown` for paths no route serves, so a client cannot grow the label set), a call
/// holds a reference to its method's `MethodMetrics`, and the per-status counters are made on a status's first use
/// and then reused. Byte counts are summed per read and per flush, not per frame.
///
/// Names (Prometheus style, documented in README):
/// `copslink_server_calls_total{method,status}`, `copslink_server_call_duration_seconds{method}` (histogram),
/// `copslink_server_calls_in_flight{method}`, `copslink_server_connections`, `copslink_server_connections_accepted_total`,
/// `copslink_server_received_bytes_total`, `copslink_server_sent_bytes_total`,
/// `copslink_server_frames_rejected_total{reason}`, `copslink_server_inbound_buffered_bytes`,
/// `copslink_server_unread_answer_bytes`, `copslink_server_keyless_reads_held_total`.
public final class ServerMetrics: Sendable {
    /// The Timer label of the call latency histogram: give it buckets with `callDurationBuckets` when the backend
    /// takes buckets per name (swift-prometheus: `PrometheusMetricsFactory.durationHistogramBuckets`).
    public static let callDurationLabel = "copslink_server_call_duration_seconds"
    /// Buckets from 50 µs (a unary call on the event loop takes 60-100 µs end to end) to 10 s.
    public static let callDurationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000), .seconds(5),
        .seconds(10)
    ]

    let connectionsOpen: Meter
    let connectionsAccepted: Counter
    let bytesReceived: Counter
    let bytesSent: Counter
    /// The server's `InboundMemoryBudget` use, recorded by connections as they read.
    let inboundBuffered: Gauge
    let unreadAnswers: Gauge
    /// Reads of keyless connections held back for their loop's keyless share (`KeylessPacing`).
    private let keylessReadsHeld: Counter
    private let rejections: [RejectionReason: Counter]
    private let methods: [String: MethodMetrics]
    private let unknownMethod: MethodMetrics

    /// - Parameter factory: the backend; the executable passes `MetricsSystem.factory` after bootstrapping it,
    ///   tests pass a factory of their own (never bootstrap the global system in a library or a test).
    public init(router: RPCRouter, factory: any MetricsFactory) {
        connectionsOpen = Meter(label: "copslink_server_connections", factory: factory)
        connectionsAccepted = Counter(label: "copslink_server_connections_accepted_total", factory: factory)
        bytesReceived = Counter(label: "copslink_server_received_bytes_total", factory: factory)
        bytesSent = Counter(label: "copslink_server_sent_bytes_total", factory: factory)
        inboundBuffered = Gauge(label: "copslink_server_inbound_buffered_bytes", factory: factory)
        unreadAnswers = Gauge(label: "copslink_server_unread_answer_bytes", factory: factory)
        keylessReadsHeld = Counter(label: "copslink_server_keyless_reads_held_total", factory: factory)
        var rejections: [RejectionReason: Counter] = [:]
        for reason in RejectionReason.allCases {
            rejections[reason] = Counter(
                label: "copslink_server_frames_rejected_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.rejections = rejections
        var methods: [String: MethodMetrics] = [:]
        for route in router.methods {
            methods[route.descriptor.path] = MethodMetrics(method: route.descriptor.path, runsHandlers: true, factory: factory)
        }
        self.methods = methods
        unknownMethod = MethodMetrics(method: "unknown", runsHandlers: false, factory: factory)
    }

    /// The metrics of the method at `path`, or of `unknown` for a path no route serves.
    /// The metrics of the method at `path` (`unknown` for one the router does not have).
    public func method(forPath path: String) -> MethodMetrics {
        methods[path] ?? unknownMethod
    }

    func received(bytes: Int) {
        bytesReceived.increment(by: bytes)
    }

    func sent(bytes: Int) {
        bytesSent.increment(by: bytes)
    }

    func recordInboundBuffered(_ bytes: Int) {
        inboundBuffered.record(bytes)
    }

    /// `copslink_server_unread_answer_bytes`: what the unread-answer budget counts (`UnreadAnswerBudget`).
    func recordUnreadAnswers(_ bytes: Int) {
        unreadAnswers.record(bytes)
    }

    /// `copslink_server_keyless_reads_held_total`: a keyless connection's read waits for its loop's keyless share.
    func keylessReadHeld() {
        keylessReadsHeld.increment()
    }

    /// A connection closed or a request refused for `reason` (`copslink_server_frames_rejected_total`); public for
    /// the protocols other modules install.
    public func rejected(_ reason: RejectionReason) {
        rejections[reason]!.increment()
    }
}

/// One method's series: calls by status, latency, calls in flight.
/// One method's call series: in flight, latency, calls by status.
public final class MethodMetrics: Sendable {
    private let method: String
    private let factory: any MetricsFactory
    /// nil for `unknown`, whose calls are all answered at once and never run a handler.
    private let inFlight: Meter?
    private let duration: Timer?
    /// Counters by status code value, made on first use.
    private let calls: Mutex<[Counter?]>

    init(method: String, runsHandlers: Bool, factory: any MetricsFactory) {
        self.method = method
        self.factory = factory
        if runsHandlers {
            inFlight = Meter(label: "copslink_server_calls_in_flight", dimensions: [("method", method)], factory: factory)
            duration = Timer(label: ServerMetrics.callDurationLabel, dimensions: [("method", method)], factory: factory)
        } else {
            inFlight = nil
            duration = nil
        }
        calls = Mutex(Array(repeating: nil, count: StatusCode.allCases.count))
        // The common series exists from the start, so rates work from the first scrape.
        if runsHandlers { _ = counter(for: .ok) }
    }

    /// A handler is about to run.
    public func started() {
        inFlight?.increment()
    }

    /// A call that `started()` ended with `code` (END sent, or abandoned on CANCEL or a lost connection).
    public func finished(_ code: StatusCode, startedAt start: NIODeadline) {
        inFlight?.decrement()
        duration?.recordNanoseconds((NIODeadline.now() - start).nanoseconds)
        counter(for: code).increment()
    }

    /// A call answered at once without a handler (limits, metadata, unknown method).
    public func rejected(_ code: StatusCode) {
        counter(for: code).increment()
    }

    private func counter(for code: StatusCode) -> Counter {
        let index = Int(code.rawValue)
        return calls.withLock { calls in
            if let counter = calls[index] { return counter }
            let counter = Counter(
                label: "copslink_server_calls_total", dimensions: [("method", method), ("status", code.name)], factory: factory)
            calls[index] = counter
            return counter
        }
    }
}
