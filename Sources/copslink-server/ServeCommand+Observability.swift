import ArgumentParser
import CopsLinkAdminHTTP
import CopsLinkLogging
import CopsLinkTransport
import Logging
import Metrics
import Prometheus

/// How log lines look.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    /// `TextLogHandler` on stderr: swift-log's stream format, `<time> <level> <label>: <metadata> [<source>] <message>`,
    /// with control characters escaped.
    case text
    /// One JSON object per line on stderr (`JSONLogHandler`).
    case json
}

/// The process-wide logging and metrics set-up. Each global system is bootstrapped here, in the executable, exactly
/// once: libraries only take a `Logger` or a `MetricsFactory`.
enum Observability {
    /// Bootstraps swift-log with the chosen format. Call before making any `Logger`.
    static func bootstrapLogging(format: LogFormat) {
        switch format {
        case .text: LoggingSystem.bootstrap { label in TextLogHandler(label: label, output: .standardError) }
        case .json: LoggingSystem.bootstrap { label in JSONLogHandler(label: label, output: .standardError) }
        }
    }

    /// Bootstraps swift-metrics with a Prometheus registry (call latency buckets from 50 µs) and returns the registry
    /// the admin endpoint exports.
    static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[ServerMetrics.callDurationLabel] = ServerMetrics.callDurationBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Starts `/metrics`, `/healthz` and `/readyz` on `host:port`; `/readyz` follows `server.isServing`.
    static func startAdminEndpoint(
        host: String, port: Int, registry: PrometheusCollectorRegistry, server: TCPServer
    ) async throws -> AdminHTTPServer {
        let admin = AdminHTTPServer(
            host: host, port: port,
            routes: .init(metrics: { registry.emit(into: &$0) }, isReady: { server.isServing }))
        try await admin.start()
        return admin
    }
}
