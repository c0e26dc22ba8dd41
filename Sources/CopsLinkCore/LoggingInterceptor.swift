public import Logging

/// Logs one line per call: method, status, duration, call id, peer, request id (`copslink-request-id`), trace id,
/// and for failures the status message (`status_message`, not `message`, which structured handlers use for the line).
/// Failures are held to the connection's `FailureLogBudget` (when the transport gives one) and the server's: past
/// them they are counted, and the next line written says how many were left out (`suppressed_failures`,
/// `server_suppressed_lines`).
public struct LoggingInterceptor: ServerInterceptor {
    public let logger: Logger
    /// Level for calls that end OK; failures log one level higher.
    public let level: Logger.Level

    /// Level for failed calls: one above `level`.
    let failureLevel: Logger.Level

    public init(logger: Logger, level: Logger.Level = .debug) {
        self.logger = logger
        self.level = level
        self.failureLevel = Logger.Level.allCases.first { $0 > level } ?? level
    }

    public func intercept(
        context: ServerContext, next: @Sendable (ServerContext) async throws -> CallOutcome
    ) async throws -> CallOutcome {
        // Nothing to log at this level, not even failures: skip the per-call metadata.
        guard logger.logLevel <= failureLevel else { return try await next(context) }
        let start = ContinuousClock.now
        var metadata: Logger.Metadata = [
            "method": "\(context.descriptor.path)", "call_id": "\(context.callID)", "peer": "\(context.peer)"
        ]
        // Quoted as answers quote client text (64 bytes, escaped): a 16 KiB id in every line would make the log budget,
        // which counts lines, let through 3.5 MB a second.
        if let requestID = context.requestID { metadata["request_id"] = "\(ClientText.excerpt(requestID))" }
        if let trace = context.traceContext { metadata["trace_id"] = "\(trace.traceID)" }
        do {
            let outcome = try await next(context)
            if case .failure(let error) = outcome {
                log(error: error, metadata: &metadata, start: start, budget: context.failureLogBudget)
            } else {
                metadata["status"] = "OK"
                metadata["duration_us"] = "\(Self.micros(since: start))"
                logger.log(level: level, "call", metadata: metadata)
            }
            return outcome
        } catch {
            let answered = RPCError(handlerError: error)
            // The caller sees UNKNOWN without the error's text (it may hold what the caller must not see); the operator
            // needs the cause.
            if answered.code == .unknown, !(error is RPCError), !(error is any RPCErrorConvertible) {
                metadata["error"] = "\(Self.cause(of: error))"
            }
            log(error: answered, metadata: &metadata, start: start, budget: context.failureLogBudget)
            throw error
        }
    }

    /// Bytes of an unexpected error's description a line holds at most.
    static let maximumCauseBytes = 1024

    /// `error`'s description on one line (line breaks escaped), cut to `maximumCauseBytes` at a scalar boundary.
    static func cause(of error: any Error) -> String {
        var text = ""
        var bytes = 0
        for scalar in String(describing: error).unicodeScalars {
            let escaped =
                switch scalar {
                case "\n": "\\n"
                case "\r": "\\r"
                default: String(scalar)
                }
            bytes += escaped.utf8.count
            guard bytes <= maximumCauseBytes else { return text + "…" }
            text += escaped
        }
        return text
    }

    private func log(
        error: RPCError, metadata: inout Logger.Metadata, start: ContinuousClock.Instant, budget: FailureLogBudget?
    ) {
        if let budget {
            guard let admission = budget.admit() else { return }
            admission.annotate(&metadata)
        }
        metadata["status"] = "\(error.code.name)"
        metadata["duration_us"] = "\(Self.micros(since: start))"
        metadata["status_message"] = "\(error.message)"
        logger.log(level: failureLevel, "call", metadata: metadata)
    }

    private static func micros(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
    }
}
