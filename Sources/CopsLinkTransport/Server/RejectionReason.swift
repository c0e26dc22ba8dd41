import CopsLinkWire

/// Why the server turned a peer's bytes away: every row of PROTOCOL.md §15 (violations, timeouts and refusals that
/// end a connection because of the peer) and the REQUESTs refused at a limit (§7.2). The raw value is the short,
/// stable `reason` label of `copslink_server_frames_rejected_total`; never rename one.
public enum RejectionReason: String, CaseIterable, Sendable {
    // Frame decoder (§15.1)
    case badPreface = "bad_preface"
    case unsupportedVersion = "unsupported_version"
    case frameTooLarge = "frame_too_large"
    case frameTooShort = "frame_too_short"
    case headerLengthPastFrame = "header_length_past_frame"
    case headerTooLarge = "header_too_large"
    case unknownFrameType = "unknown_frame_type"
    // Connection handler (§15.2)
    case expectedSettings = "expected_settings"
    case settingsBelowMinimum = "settings_below_minimum"
    case endFromClient = "end_from_client"
    case handshakeTimeout = "handshake_timeout"
    case frameReadTimeout = "frame_read_timeout"
    case malformedHeader = "malformed_header"
    case callIDNotIncreasing = "call_id_not_increasing"
    case flowControlWindowExceeded = "flow_control_window_exceeded"
    case messageForUnopenedCall = "message_for_unopened_call"
    case messageAfterEndStream = "message_after_end_stream"
    case messageWithoutFlags = "message_without_flags"
    case cancelForUnopenedCall = "cancel_for_unopened_call"
    case windowUpdateForUnopenedCall = "window_update_for_unopened_call"
    case windowOverflow = "window_overflow"
    case badPingPayload = "bad_ping_payload"
    case tooManyPings = "too_many_pings"
    case keepaliveTimeout = "keepalive_timeout"
    case idleTimeout = "idle_timeout"
    case slowReader = "slow_reader"
    case unauthenticatedCalls = "unauthenticated_calls"
    /// A gRPC client broke HTTP/2 (a connection error: swift-nio-http2 sent GOAWAY with its code).
    case http2ConnectionError = "http2_connection_error"
    // Refusals at a limit
    case connectionLimit = "connection_limit"
    /// A connection on which no caller had authenticated, closed at the connection limit to make room for a new one
    /// (`ConnectionSlots`).
    case untrustedConnectionReplaced = "untrusted_replaced"
    case shuttingDown = "shutting_down"
    case tooManyCalls = "too_many_calls"
    case draining = "draining"
    case overloaded = "overloaded"
    case connectionInboundBudget = "connection_inbound_budget"
    case serverInboundBudget = "server_inbound_budget"
    case requestIdleTimeout = "request_idle_timeout"
    /// A request message larger than its method's own limit (`RPCRouter.Route.maxRequestMessageSize`).
    case methodMessageLimit = "method_message_limit"
    /// A call of an open method waiting for its request past `CallDispatcher.maxOpenCallsAwaitingRequest`.
    case openCallsAwaitingRequest = "open_calls_awaiting_request"
    /// Answers the server would hold for clients that do not take them, past `UnreadAnswerBudget.limit`.
    case unreadAnswerBudget = "unread_answer_budget"

    init(_ error: WireError) {
        switch error {
        case .badPreface: self = .badPreface
        case .unsupportedVersion: self = .unsupportedVersion
        case .frameTooLarge: self = .frameTooLarge
        case .frameTooShort: self = .frameTooShort
        case .headerLengthPastFrame: self = .headerLengthPastFrame
        case .headerTooLarge: self = .headerTooLarge
        case .unknownFrameType: self = .unknownFrameType
        }
    }
}
