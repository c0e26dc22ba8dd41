public import ServiceLifecycle

/// A `TCPServer` in a swift-service-lifecycle `ServiceGroup`: runs until the group's graceful shutdown (SIGTERM,
/// SIGINT), then drains — GOAWAY to every connection, in-flight calls finish within the grace period.
extension TCPServer: Service {
    /// Starts the server unless it was started already (to print its address first), waits for graceful shutdown
    /// or cancellation, and shuts down.
    public func run() async throws {
        if port == nil { try await start() }
        try? await gracefulShutdown()
        await shutdown()
    }
}
