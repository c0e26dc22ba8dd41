/// A W3C Trace Context (`traceparent` metadata): which trace a call belongs to, so handlers can continue it.
///
/// Format: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are invalid. `tracestate` is
/// carried as is.
public struct TraceContext: Hashable, Sendable, CustomStringConvertible {
    public static let traceparentKey = "traceparent"
    public static let tracestateKey = "tracestate"

    public var traceID: String
    public var parentID: String
    public var flags: UInt8
    public var traceState: String?

    public init?(traceparent: String, traceState: String? = nil) {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff",
            parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } }),
            parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" }),
            let flags = UInt8(parts[3], radix: 16),
            parts[0] != "00" || parts.count == 4
        else { return nil }
        self.traceID = String(parts[1])
        self.parentID = String(parts[2])
        self.flags = flags
        self.traceState = traceState
    }

    /// Whether the caller recorded this trace.
    public var isSampled: Bool { flags & 1 == 1 }

    public var description: String {
        "00-\(traceID)-\(parentID)-\(String(flags, radix: 16).count == 1 ? "0" : "")\(String(flags, radix: 16))"
    }
}

extension ServerContext {
    /// The caller's trace context, if it sent a valid `traceparent`.
    public var traceContext: TraceContext? {
        metadata[text: TraceContext.traceparentKey].flatMap {
            TraceContext(traceparent: $0, traceState: metadata[text: TraceContext.tracestateKey])
        }
    }
}

extension CallOptions {
    /// Sends `trace` as `traceparent` (and `tracestate`) metadata.
    public mutating func propagate(_ trace: TraceContext) {
        metadata.replace(TraceContext.traceparentKey, with: .text(trace.description))
        if let state = trace.traceState { metadata.replace(TraceContext.tracestateKey, with: .text(state)) }
    }
}
