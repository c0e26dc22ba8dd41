import CopsLinkCore
import CopsLinkMessages
import Foundation

/// `--json` output: one JSON object per command, keys sorted, field names as in the .proto files (snake_case).
///
/// Conventions, the same for every command:
/// - enums are their proto names without the prefix (`"POLICE"`, `"ACTIVE"`);
/// - a timestamp field `x_at_ms` is written twice: `x_at_ms` (epoch milliseconds, 0 when unset) and `x_at`
///   (ISO 8601 UTC with milliseconds, `null` when unset);
/// - an absent message is `null`, an empty list `[]`, proto3 defaults are written out;
/// - passcodes are never written (the server does not return them either).
typealias JSONObject = [String: Any]

enum JSONOutput {
    static func render(_ object: JSONObject) -> String {
        guard JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Sets `name_ms` and `name` (ISO 8601 or null) for a timestamp field named `name_ms` in the proto.
    static func timestamp(_ object: inout JSONObject, _ name: String, _ ms: Int64) {
        object[name + "_ms"] = ms
        object[name] = ms == 0 ? NSNull() : Format.preciseTimestamp(ms)
    }

    static func optional(_ value: JSONObject?) -> Any { value ?? NSNull() }
}

protocol JSONRepresentable {
    var json: JSONObject { get }
}

extension Array where Element: JSONRepresentable {
    var json: [JSONObject] { map(\.json) }
}

extension Optional where Wrapped: JSONRepresentable {
    var json: Any { JSONOutput.optional(self?.json) }
}

extension Address: JSONRepresentable {
    var json: JSONObject { ["street1": street1, "street2": street2, "city": city, "state": state, "zip": zip] }
}

extension Equipment: JSONRepresentable {
    var json: JSONObject {
        ["id": id, "name": name, "zone_number": zoneNumber, "zone_description": zoneDescription, "installed": installed]
    }
}

extension Customer: JSONRepresentable {
    /// Without the passcode, always.
    var json: JSONObject {
        [
            "id": id, "first_name": firstName, "last_name": lastName, "company_name": companyName, "address": address.json,
            "premise_phone": premisePhone, "equipment": equipment.json
        ]
    }
}

extension Phone: JSONRepresentable {
    var json: JSONObject { ["number": number, "type": type.description, "extension": `extension`] }
}

extension CentralStationParty: JSONRepresentable {
    var json: JSONObject {
        [
            "id": id, "priority": priority, "first_name": firstName, "last_name": lastName, "phones": phones.json,
            "role": role.description, "has_key": hasKey
        ]
    }
}

extension Authority: JSONRepresentable {
    var json: JSONObject {
        [
            "id": id, "type": type.description, "name": name, "phone": phone, "address": address.json, "served_zips": servedZips,
            "jurisdiction": jurisdiction.description, "permit_required": permitRequired
        ]
    }
}

extension AccountAuthority: JSONRepresentable {
    var json: JSONObject {
        var object: JSONObject = [
            "id": id, "authority": authority.json, "permit_number": permitNumber, "added_by": addedBy, "does_not_serve_zip": doesNotServeZip
        ]
        JSONOutput.timestamp(&object, "added_at", addedAtMs)
        return object
    }
}

extension Zone: JSONRepresentable {
    var json: JSONObject {
        [
            "zone_number": zoneNumber, "description": description, "event_type": eventType.description,
            "equipment_type": equipmentType, "location": location, "partition": partition, "restore_required": restoreRequired
        ]
    }
}

extension MappedZone: JSONRepresentable {
    var json: JSONObject { ["zone": zone.json, "equipment": equipment.json] }
}

extension TestCategory: JSONRepresentable {
    var json: JSONObject { ["id": id, "description": description, "default_duration_minutes": defaultDurationMinutes] }
}

extension UserRef: JSONRepresentable {
    var json: JSONObject { ["id": id, "name": name] }
}

extension TestAuthorization: JSONRepresentable {
    var json: JSONObject { ["responding_party_id": respondingPartyID, "verified_by": verifiedBy] }
}

extension TestSession: JSONRepresentable {
    var json: JSONObject {
        var object: JSONObject = [
            "id": id, "category": category.json, "scope": scope.description, "zone_numbers": zoneNumbers, "comment": comment,
            "placed_by": placedBy.json, "authorized_by": authorizedBy.json, "end_reason": endReason.description,
            "state": state.description
        ]
        JSONOutput.timestamp(&object, "effective_at", effectiveAtMs)
        JSONOutput.timestamp(&object, "expires_at", expiresAtMs)
        JSONOutput.timestamp(&object, "ended_at", endedAtMs)
        return object
    }
}

extension TestStatus: JSONRepresentable {
    var json: JSONObject { ["on_test": onTest, "state": state.description, "current": current.json] }
}

extension Account: JSONRepresentable {
    var json: JSONObject {
        var object: JSONObject = [
            "customer": customer.json, "link_state": linkState.description, "account_number": accountNumber,
            "receiver_number": receiverNumber, "line": line, "responding_parties": respondingParties.json,
            "authorities": authorities.json, "mapped_zones": mappedZones.json, "unmapped_zones": unmappedZones.json,
            "test_status": testStatus.json
        ]
        JSONOutput.timestamp(&object, "linked_at", linkedAtMs)
        JSONOutput.timestamp(&object, "unlinked_at", unlinkedAtMs)
        return object
    }
}

extension TestHistoryEntry: JSONRepresentable {
    var json: JSONObject {
        var object: JSONObject = [
            "action": action.description, "session_id": sessionID, "category": category.json, "user": user.json, "comment": comment
        ]
        JSONOutput.timestamp(&object, "at", atMs)
        JSONOutput.timestamp(&object, "effective_at", effectiveAtMs)
        JSONOutput.timestamp(&object, "expires_at", expiresAtMs)
        return object
    }
}

extension TestResult: JSONRepresentable {
    var json: JSONObject {
        var object: JSONObject = [
            "account_number": accountNumber, "zone_number": zoneNumber, "zone_description": zoneDescription, "event_code": eventCode,
            "qualifier": qualifier, "event_description": eventDescription, "user_number": userNumber, "partition": partition,
            "raw_message": rawMessage, "session_id": sessionID
        ]
        JSONOutput.timestamp(&object, "received_at", receivedAtMs)
        return object
    }
}

extension SignalRejection: JSONRepresentable {
    var json: JSONObject { ["index": index, "reason": reason] }
}

extension MethodInfo: JSONRepresentable {
    var json: JSONObject {
        ["name": name, "kind": MethodKindName.of(kind), "request_type": requestType, "response_type": responseType]
    }
}

extension ServiceInfo: JSONRepresentable {
    var json: JSONObject { ["name": name, "methods": methods.json] }
}

extension SettingsHeader: JSONRepresentable {
    var json: JSONObject {
        [
            "max_frame_size": maxFrameSize, "max_concurrent_calls": maxConcurrentCalls, "initial_window_size": initialWindowSize,
            "max_header_size": maxHeaderSize
        ]
    }
}

extension ServerInfoResponse: JSONRepresentable {
    var json: JSONObject {
        ["server_version": serverVersion, "protocol_versions": protocolVersions, "services": services.json, "limits": limits.json]
    }
}

/// Method kinds as the proto enum names them (`copslink.rpc.v1.MethodInfo.Kind`).
enum MethodKindName {
    static func of(_ kind: MethodKind) -> String {
        switch kind {
        case .unary: "UNARY"
        case .serverStreaming: "SERVER_STREAMING"
        case .clientStreaming: "CLIENT_STREAMING"
        case .bidirectionalStreaming: "BIDI_STREAMING"
        }
    }
}
