public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

// The top-level messages of the account model; built in place, as the types in AccountModel+Codec.swift (why: there).

extension Account: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Account
    public static let protoName = "copslink.v1.Account"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__account__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__account__init)
        message.pointee.customer = arena.message(value, \.customer)
        message.pointee.link_state = Copslink__V1__LinkState(rawValue: value.pointee.linkState.rawValue)
        message.pointee.account_number = arena.cString(value, \.accountNumber)
        message.pointee.receiver_number = arena.cString(value, \.receiverNumber)
        message.pointee.line = arena.cString(value, \.line)
        message.pointee.linked_at_ms = value.pointee.linkedAtMs
        message.pointee.unlinked_at_ms = value.pointee.unlinkedAtMs
        message.pointee.n_responding_parties = value.pointee.respondingParties.count
        message.pointee.responding_parties = arena.repeatedMessages(value.pointee.respondingParties)
        message.pointee.n_authorities = value.pointee.authorities.count
        message.pointee.authorities = arena.repeatedMessages(value.pointee.authorities)
        message.pointee.n_mapped_zones = value.pointee.mappedZones.count
        message.pointee.mapped_zones = arena.repeatedMessages(value.pointee.mappedZones)
        message.pointee.n_unmapped_zones = value.pointee.unmappedZones.count
        message.pointee.unmapped_zones = arena.repeatedMessages(value.pointee.unmappedZones)
        message.pointee.test_status = arena.message(value, \.testStatus)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            customer: try CField.message(message.pointee.customer, as: Customer.self),
            linkState: LinkState(rawValue: message.pointee.link_state.rawValue),
            accountNumber: CField.string(message.pointee.account_number),
            receiverNumber: CField.string(message.pointee.receiver_number), line: CField.string(message.pointee.line),
            linkedAtMs: message.pointee.linked_at_ms, unlinkedAtMs: message.pointee.unlinked_at_ms,
            respondingParties: try CField.messages(
                message.pointee.responding_parties, count: message.pointee.n_responding_parties, as: CentralStationParty.self),
            authorities: try CField.messages(message.pointee.authorities, count: message.pointee.n_authorities, as: AccountAuthority.self),
            mappedZones: try CField.messages(message.pointee.mapped_zones, count: message.pointee.n_mapped_zones, as: MappedZone.self),
            unmappedZones: try CField.messages(message.pointee.unmapped_zones, count: message.pointee.n_unmapped_zones, as: Zone.self),
            testStatus: try CField.message(message.pointee.test_status, as: TestStatus.self))
    }
}

extension TestHistoryEntry: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestHistoryEntry
    public static let protoName = "copslink.v1.TestHistoryEntry"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_history_entry__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_history_entry__init)
        message.pointee.at_ms = value.pointee.atMs
        message.pointee.action = Copslink__V1__TestHistoryAction(rawValue: value.pointee.action.rawValue)
        message.pointee.session_id = arena.cString(value, \.sessionID)
        message.pointee.category = arena.message(value, \.category)
        message.pointee.effective_at_ms = value.pointee.effectiveAtMs
        message.pointee.expires_at_ms = value.pointee.expiresAtMs
        message.pointee.user = arena.message(value, \.user)
        message.pointee.comment = arena.cString(value, \.comment)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            atMs: message.pointee.at_ms, action: TestHistoryAction(rawValue: message.pointee.action.rawValue),
            sessionID: CField.string(message.pointee.session_id),
            category: try CField.message(message.pointee.category, as: TestCategory.self),
            effectiveAtMs: message.pointee.effective_at_ms, expiresAtMs: message.pointee.expires_at_ms,
            user: try CField.message(message.pointee.user, as: UserRef.self), comment: CField.string(message.pointee.comment))
    }
}

extension TestResult: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestResult
    public static let protoName = "copslink.v1.TestResult"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_result__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_result__init)
        message.pointee.received_at_ms = value.pointee.receivedAtMs
        message.pointee.account_number = arena.cString(value, \.accountNumber)
        message.pointee.zone_number = arena.cString(value, \.zoneNumber)
        message.pointee.zone_description = arena.cString(value, \.zoneDescription)
        message.pointee.event_code = arena.cString(value, \.eventCode)
        message.pointee.qualifier = value.pointee.qualifier
        message.pointee.event_description = arena.cString(value, \.eventDescription)
        message.pointee.user_number = arena.cString(value, \.userNumber)
        message.pointee.partition = value.pointee.partition
        message.pointee.raw_message = arena.cString(value, \.rawMessage)
        message.pointee.session_id = arena.cString(value, \.sessionID)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            receivedAtMs: message.pointee.received_at_ms, accountNumber: CField.string(message.pointee.account_number),
            zoneNumber: CField.string(message.pointee.zone_number), zoneDescription: CField.string(message.pointee.zone_description),
            eventCode: CField.string(message.pointee.event_code), qualifier: message.pointee.qualifier,
            eventDescription: CField.string(message.pointee.event_description), userNumber: CField.string(message.pointee.user_number),
            partition: message.pointee.partition, rawMessage: CField.string(message.pointee.raw_message),
            sessionID: CField.string(message.pointee.session_id))
    }
}

extension Signal: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Signal
    public static let protoName = "copslink.v1.Signal"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__signal__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__signal__init)
        message.pointee.receiver_number = arena.cString(value, \.receiverNumber)
        message.pointee.line = arena.cString(value, \.line)
        message.pointee.account_number = arena.cString(value, \.accountNumber)
        message.pointee.received_at_ms = value.pointee.receivedAtMs
        message.pointee.contact_id = arena.cString(value, \.contactID)
        message.pointee.qualifier = value.pointee.qualifier
        message.pointee.event_code = arena.cString(value, \.eventCode)
        message.pointee.partition = value.pointee.partition
        message.pointee.zone_or_user = arena.cString(value, \.zoneOrUser)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            receiverNumber: CField.string(message.pointee.receiver_number), line: CField.string(message.pointee.line),
            accountNumber: CField.string(message.pointee.account_number), receivedAtMs: message.pointee.received_at_ms,
            contactID: CField.string(message.pointee.contact_id), qualifier: message.pointee.qualifier,
            eventCode: CField.string(message.pointee.event_code), partition: message.pointee.partition,
            zoneOrUser: CField.string(message.pointee.zone_or_user))
    }
}
