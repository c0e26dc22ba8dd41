import Prometheus

extension PrometheusCollectorRegistry {
    /// Everything recorded so far, in Prometheus's text format (what the metrics endpoint serves).
    var text: String {
        var bytes: [UInt8] = []
        emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
