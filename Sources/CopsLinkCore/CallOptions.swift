/// Per-call settings a client chooses.
public struct CallOptions: Sendable, Hashable {
    /// Time the call may take; sent to the server, which enforces it, and enforced by the client too.
    public var timeout: Duration?
    /// Request metadata.
    public var metadata: Metadata
    /// Identifies the request for idempotent retries and logs; sent as `copslink-request-id` metadata.
    public var requestID: String?

    public init(timeout: Duration? = nil, metadata: Metadata = [:], requestID: String? = nil) {
        self.timeout = timeout
        self.metadata = metadata
        self.requestID = requestID
    }

    public static let defaults = CallOptions()

    /// The request metadata as sent on the wire, request id included.
    public var effectiveMetadata: Metadata {
        guard let requestID else { return metadata }
        var metadata = metadata
        metadata.replace(Metadata.requestIDKey, with: .text(requestID))
        return metadata
    }
}
