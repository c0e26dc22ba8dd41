import CopsLinkAccounts
import CopsLinkBuiltinServices
import CopsLinkServices
import Logging
import ServiceLifecycle

/// The test-expiry scheduler as a service: its passes stop at graceful shutdown.
struct ExpiryService: Service {
    let scheduler: TestExpiryScheduler

    func run() async {
        await cancelWhenGracefulShutdown { await scheduler.run() }
    }
}

/// The retention pruner as a service: its passes stop at graceful shutdown, between two batches.
struct RetentionService: Service {
    let pruner: RetentionPruner

    func run() async {
        await cancelWhenGracefulShutdown { await pruner.run() }
    }
}

/// Marks the server NOT_SERVING in the health service as soon as shutdown begins (before the RPC server drains),
/// so that health checks steer new clients away while in-flight calls finish.
struct DrainAnnouncer: Service {
    let health: HealthService
    let logger: Logger

    func run() async {
        try? await gracefulShutdown()
        logger.notice("shutting down: draining connections")
        await health.enterShutdown()
    }
}
