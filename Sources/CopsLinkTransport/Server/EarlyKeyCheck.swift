/// Where a connection without an authenticated caller stands with the key of a request it cannot read in whole while
/// such connections hold their share of the inbound budget (PROTOCOL §12.1): the key is checked
/// (`CallDispatcher.acceptedCaller`) before the rest of the request is read, since the call authenticates only once
/// its request is in.
enum EarlyKeyCheck {
    case notAsked
    /// Asked; reading waits for the answer.
    case pending
    /// The request has no key, or its key was not accepted: it is held to the untrusted share like a keyless one.
    case refused
}
