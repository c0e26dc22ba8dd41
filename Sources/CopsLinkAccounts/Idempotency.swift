import CopsLinkCore

/// Request ids for idempotent retries: a retry with the same id gets the first answer and changes nothing more;
/// the same id with other parameters is rejected. Only successful answers are remembered.
enum Idempotency {
    /// FNV-1a over the request's encoding with its request id cleared (protobuf-c encodes deterministically).
    static func fingerprint(of request: some RPCMessage) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in request.serializedBytes() {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The request id to use: the field, else the `copslink-request-id` metadata; validated as a UUID. Both given
    /// must name the same id (case aside): a client that set both and got the field's replayed would not know.
    static func requestID(field: String, context: ServerContext) throws(AccountError) -> String {
        // Sent twice, the metadata must name one id too (metadata keys may repeat; the first would otherwise win).
        var metadataID: String?
        for case .text(let value) in context.metadata[Metadata.requestIDKey] {
            guard let earlier = metadataID else {
                metadataID = value
                continue
            }
            guard earlier.lowercased() == value.lowercased() else {
                throw .invalid(
                    "The copslink-request-id metadata names two ids, '\(ClientText.excerpt(earlier))' and '\(ClientText.excerpt(value))'; "
                        + "send one.")
            }
        }
        if !field.isEmpty, let header = metadataID, !header.isEmpty, header.lowercased() != field.lowercased() {
            throw .invalid(
                "The request_id field '\(ClientText.excerpt(field))' and the copslink-request-id metadata '\(ClientText.excerpt(header))' "
                    + "differ; send the id once, or the same in both.")
        }
        let id = field.isEmpty ? (metadataID ?? "") : field
        // The field was checked with the rest of the request; the metadata value only against the header size.
        try FieldLimits.check(id, FieldLimits.requestID, field.isEmpty ? "the copslink-request-id metadata" : "request_id")
        guard id.isEmpty || Validation.isUUID(id) else {
            throw .invalid("The request id '\(ClientText.excerpt(id))' must be a UUID (8-4-4-4-12 hexadecimal digits).")
        }
        return id.lowercased()
    }
}
