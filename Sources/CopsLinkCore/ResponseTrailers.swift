import Synchronization

/// Trailing metadata a handler adds through its context (`context.responseTrailers.add(…)`).
///
/// For handlers whose signature returns only a message, as the generated-style service protocols do: the
/// idempotency layer below them learns that a request is a replay (`copslink-replayed`) long after the signature was
/// fixed. The router sends these after the handler's own trailers (`ServerResponse.trailers`, or what a streaming
/// handler returns) when the call succeeds; a failed call carries only its `RPCError.metadata`. Entries added after
/// the handler returned are not sent.
public struct ResponseTrailers: Sendable {
    /// Where a call's added trailers are kept. Not final so that `ServerContext` keeps them in the same object as
    /// the rest of the call's fixed part (one allocation per call rather than two).
    ///
    /// `@unchecked Sendable`: its only stored property is a `let` of a `Mutex`, which is Sendable; the compiler asks
    /// for the annotation only because the class is not final, and the one subclass (`ServerContext`'s) adds only
    /// `let`s of Sendable types.
    class Storage: @unchecked Sendable {
        final let entries = Mutex(Metadata())

        init() {}
    }

    let storage: Storage

    /// Trailers of their own, tied to no context.
    public init() { storage = Storage() }

    init(storage: Storage) { self.storage = storage }

    public func add(_ key: String, _ text: String) {
        storage.entries.withLock { $0.add(key, .text(text)) }
    }

    /// What was added so far.
    public var metadata: Metadata { storage.entries.withLock { $0 } }

    /// `own` followed by what was added; `own` itself (no copy) when nothing was.
    public func appended(to own: Metadata) -> Metadata {
        let added = metadata
        guard !added.isEmpty else { return own }
        var merged = own
        for entry in added { merged.add(entry.key, entry.value) }
        return merged
    }
}
