public import CopsLinkCore
public import CopsLinkMessages
import CopsLinkServices

extension AccountServiceImplementation {
    /// Ingests a stream of received signals in batches, one transaction per batch. A signal of an account on test,
    /// in the test's zone scope, becomes a test result; any other becomes plain signal history. Unusable signals
    /// (not decoding at all, over a field limit, malformed, dated more than `signalFutureSkewMs` ahead of the
    /// server's clock, unknown or unlinked account, or in a batch that comes while the dealer is at its
    /// `StorageQuota`) are counted and the first ones listed as rejected; they never fail the stream. A stream longer than `FieldLimits.signalsPerStream` fails
    /// INVALID_ARGUMENT at the first signal past it, once every signal before it is processed. Signals are a feed,
    /// not a mutation with a request id: a replayed stream is stored again.
    ///
    /// The batch a call holds counts in the server's held-request budget (`ServerContext.heldRequests`, each signal by
    /// `ParsedSignal.heldBytes`): when one more signal would pass it, the batch is written at once, and a signal the
    /// budget has no room for even then is written alone. So many open streams, each keeping a batch short of full,
    /// hold no more than the budget (one key's: a quarter of it), not 255 signals each.
    public func reportSignals(_ signals: RequestStream<Signal>, context: ServerContext) async throws -> ReportSignalsResponse {
        var response = ReportSignalsResponse()
        var batch: [(index: UInt32, signal: ParsedSignal)] = []
        let budget = context.heldRequests
        let keyID = context.caller?.keyID
        // Bytes of `batch` counted in `budget`.
        var held = 0
        defer { budget?.release(held, keyID: keyID) }
        func flush() async throws {
            try await store(batch, into: &response, context: context)
            // A full batch keeps its storage for the next; one written early gives it back, since early means the
            // server holds as much as it may (2,000 such streams kept 60 MB of empty batch storage).
            batch.removeAll(keepingCapacity: batch.count >= configuration.signalBatchSize)
            budget?.release(held, keyID: keyID)
            held = 0
        }
        // Below FieldLimits.signalsPerStream, so neither it nor `received` can overflow.
        var index: UInt32 = 0
        var iterator = signals.makeAsyncIterator()
        // A signal that does not decode (a string with U+0000, say) is rejected like any unusable signal: failing the
        // stream there lost the batch not yet written and every count, after earlier batches were stored.
        while let next = try await iterator.nextDecoded() {
            guard Int(index) < FieldLimits.signalsPerStream else {
                if !batch.isEmpty { try await flush() }
                throw AccountError.invalid(
                    "the ReportSignals stream has more than \(FieldLimits.signalsPerStream) signals; at most \(FieldLimits.signalsPerStream) "
                        + "per stream (the first \(FieldLimits.signalsPerStream) were processed; send the rest in a new stream)")
            }
            defer { index += 1 }
            response.received += 1
            let signal: Signal
            switch next {
            case .success(let decoded): signal = decoded
            case .failure(let error):
                reject(&response, index, error.message)
                continue
            }
            let parsed: ParsedSignal
            do {
                try signal.checkFieldLimits()
                try Validation.checkTimestamp(signal.receivedAtMs, "received_at_ms")
                let now = clock.nowMs()
                try checkNotAhead(signal.receivedAtMs, index: index, nowMs: now)
                try checkNotPastRetention(signal.receivedAtMs, index: index, nowMs: now)
                parsed = try ParsedSignal(signal, receivedAtMs: signal.receivedAtMs == 0 ? now : signal.receivedAtMs)
            } catch {
                reject(&response, index, error.message)
                continue
            }
            var counted = budget?.holdMore(parsed.heldBytes, keyID: keyID) ?? true
            if !counted, !batch.isEmpty {
                try await flush()
                counted = budget?.holdMore(parsed.heldBytes, keyID: keyID) ?? true
            }
            batch.append((index, parsed))
            if counted { held += parsed.heldBytes }
            if !counted || batch.count >= configuration.signalBatchSize { try await flush() }
        }
        if !batch.isEmpty { try await flush() }
        return response
    }

    private func store(
        _ batch: [(index: UInt32, signal: ParsedSignal)], into response: inout ReportSignalsResponse, context: ServerContext
    ) async throws {
        if let refusal = try await storageQuotaRefusal(context) {
            for (index, _) in batch { reject(&response, index, refusal.message) }
            return
        }
        let scope = scope(context)
        let outcomes: [(UInt32, Result<Bool, AccountError>)] = try await store.write(scope) { transaction in
            // A batch usually carries one account's signals: its link is read once. Everything a signal reads is one
            // lookup by key, so a signal costs the same whatever the account's size.
            var links: [String: AccountLink?] = [:]
            return try batch.map { index, signal in
                let link: AccountLink?
                if let known = links[signal.accountNumber] {
                    link = known
                } else {
                    link = try transaction.link(accountNumber: signal.accountNumber)
                    links[signal.accountNumber] = link
                }
                guard let link else {
                    return (index, .failure(AccountError(.notFound, "unknown account number \(ClientText.excerpt(signal.accountNumber))")))
                }
                guard link.state == .linked else {
                    return (
                        index,
                        .failure(AccountError(.failedPrecondition, "account \(ClientText.excerpt(signal.accountNumber)) is unlinked"))
                    )
                }
                let zoneDescription =
                    signal.zone.isEmpty
                    ? ""
                    : try transaction.zoneDescription(
                        accountNumber: link.accountNumber, customerID: link.customerID, zoneNumber: signal.zone) ?? ""
                let session = try transaction.sessionActive(accountNumber: link.accountNumber, atMs: signal.receivedAtMs)
                    .flatMap { TestSessionRules.covers($0, zone: signal.zone) ? $0 : nil }
                let result = TestResult(
                    receivedAtMs: signal.receivedAtMs, accountNumber: signal.accountNumber, zoneNumber: signal.zone,
                    zoneDescription: zoneDescription, eventCode: signal.eventCode, qualifier: signal.qualifier,
                    eventDescription: ReferenceData.contactIDEvents[signal.eventCode] ?? "Event \(signal.eventCode)",
                    userNumber: signal.user, partition: signal.partition, rawMessage: signal.raw, sessionID: session?.id ?? "")
                try transaction.insertSignal(SignalRecord(accountNumber: link.accountNumber, result: result, isTestResult: session != nil))
                return (index, .success(session != nil))
            }
        }
        for (index, outcome) in outcomes {
            switch outcome {
            case .success(true): response.testResults += 1
            case .success(false): response.storedAsHistory += 1
            case .failure(let error): reject(&response, index, error.message)
            }
        }
    }

    /// Rejects a signal dated before the signal retention window: the next retention pass would delete it, after
    /// the answer had counted it as stored.
    private func checkNotPastRetention(_ receivedAtMs: Int64, index: UInt32, nowMs: Int64) throws(AccountError) {
        guard receivedAtMs != 0, let cutoff = configuration.retentionCutoffMs(.signals, atMs: nowMs), receivedAtMs < cutoff else { return }
        let retention = configuration.signalRetentionMs
        let window =
            retention % 86_400_000 == 0 ? "\(retention / 86_400_000) days" : Duration.milliseconds(retention).secondsText
        throw .invalid(
            "received_at_ms \(receivedAtMs) of signal \(index) is older than the signal retention of \(window) "
                + "(\(cutoff) at the server's clock); it would be deleted at once")
    }

    /// Rejects a signal dated more than `signalFutureSkewMs` ahead of the server's clock: signals are pruned by
    /// received time, so one dated in the future would be kept until then plus the retention window.
    private func checkNotAhead(_ receivedAtMs: Int64, index: UInt32, nowMs: Int64) throws(AccountError) {
        let skew = configuration.signalFutureSkewMs
        guard receivedAtMs <= nowMs.addingSaturating(skew) else {
            // receivedAtMs lies in Validation.timestampRangeMs and the server's clock after 1970: no overflow.
            throw .invalid(
                "received_at_ms \(receivedAtMs) of signal \(index) is \(receivedAtMs - nowMs) ms ahead of the server's clock "
                    + "(\(nowMs)); at most \(skew) ms ahead is allowed (clock skew)")
        }
    }

    /// Counts a rejection; lists only those of the `maximumListedRejections` lowest indices, in index order, so the
    /// answer stays small. A batch's store-time rejections (unknown account) come after the parse-time ones of
    /// later signals, hence the ordered insert rather than an append.
    private func reject(_ response: inout ReportSignalsResponse, _ index: UInt32, _ reason: String) {
        response.rejectedCount += 1
        var low = 0
        var high = response.rejected.count
        while low < high {
            let middle = (low + high) / 2
            if response.rejected[middle].index < index { low = middle + 1 } else { high = middle }
        }
        guard low < configuration.maximumListedRejections else { return }
        response.rejected.insert(SignalRejection(index: index, reason: reason), at: low)
        if response.rejected.count > configuration.maximumListedRejections { response.rejected.removeLast() }
    }
}

/// A signal with its Contact ID fields resolved and checked.
struct ParsedSignal: Sendable {
    /// What holding it in a batch counts in the held-request budget: its text plus 256 for the rest of the signal and
    /// its place in the batch (a signal held in a batch took about 400 bytes of the server's memory).
    var heldBytes: Int { accountNumber.utf8.count + eventCode.utf8.count + zone.utf8.count + user.utf8.count + raw.utf8.count + 256 }

    var accountNumber: String
    var receivedAtMs: Int64
    var qualifier: UInt32
    var eventCode: String
    var partition: UInt32
    var zone: String
    var user: String
    var raw: String

    init(_ signal: Signal, receivedAtMs: Int64) throws(AccountError) {
        var accountNumber = signal.accountNumber
        var zoneOrUser = signal.zoneOrUser
        if signal.contactID.isEmpty {
            guard signal.qualifier != 0 || !signal.eventCode.isEmpty else {
                throw .invalid("the signal has neither a contact_id nor the parsed fields (qualifier, event_code)")
            }
            guard [1, 3, 6].contains(signal.qualifier) else { throw .invalid("qualifier must be 1, 3 or 6, got \(signal.qualifier)") }
            // ASCII digits only: `isNumber` also takes other scripts' digits (and fractions such as "½").
            guard signal.eventCode.count == 3, signal.eventCode.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw .invalid("event code must be three digits, got '\(ClientText.excerpt(signal.eventCode))'")
            }
            guard signal.partition <= Validation.maximumPartition else {
                throw .invalid("partition must be 0 to \(Validation.maximumPartition), got \(signal.partition)")
            }
            qualifier = signal.qualifier
            eventCode = signal.eventCode
            partition = signal.partition
        } else {
            let message = try ContactIDMessage(parsing: signal.contactID)
            try Self.checkAgrees(signal, with: message)
            if accountNumber.isEmpty { accountNumber = message.account }
            qualifier = message.qualifier
            eventCode = message.eventCode
            partition = message.partition
            zoneOrUser = message.zoneOrUser
        }
        guard !accountNumber.isEmpty else { throw .invalid("the signal names no account") }
        self.accountNumber = accountNumber
        self.receivedAtMs = receivedAtMs
        let namesUser = ReferenceData.eventNamesUser(eventCode)
        zone = namesUser ? "" : zoneOrUser
        user = namesUser ? zoneOrUser : ""
        raw = signal.contactID
    }

    /// A signal with a `contact_id` may also carry the parsed fields, but each one it sets must say what the message
    /// says: a silent choice between two disagreeing sources would store one of them unasked.
    private static func checkAgrees(_ signal: Signal, with message: ContactIDMessage) throws(AccountError) {
        func disagree(_ field: String, _ given: String, _ parsed: String) -> AccountError {
            .invalid(
                "\(field) '\(ClientText.excerpt(given))' disagrees with the contact_id's '\(parsed)'; send either the contact_id "
                    + "or the parsed fields, or both alike")
        }
        if signal.qualifier != 0, signal.qualifier != message.qualifier {
            throw disagree("qualifier", "\(signal.qualifier)", "\(message.qualifier)")
        }
        if !signal.eventCode.isEmpty, signal.eventCode != message.eventCode {
            throw disagree("event_code", signal.eventCode, message.eventCode)
        }
        if signal.partition != 0, signal.partition != message.partition {
            throw disagree("partition", "\(signal.partition)", "\(message.partition)")
        }
        if !signal.zoneOrUser.isEmpty, signal.zoneOrUser != message.zoneOrUser {
            throw disagree("zone_or_user", signal.zoneOrUser, message.zoneOrUser)
        }
    }
}
