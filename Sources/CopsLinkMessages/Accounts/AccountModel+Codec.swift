public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

extension Address: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Address
    public static let protoName = "copslink.v1.Address"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__address__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__address__init)
        message.pointee.street1 = arena.cString(street1)
        message.pointee.street2 = arena.cString(street2)
        message.pointee.city = arena.cString(city)
        message.pointee.state = arena.cString(state)
        message.pointee.zip = arena.cString(zip)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            street1: CField.string(message.pointee.street1), street2: CField.string(message.pointee.street2),
            city: CField.string(message.pointee.city), state: CField.string(message.pointee.state),
            zip: CField.string(message.pointee.zip))
    }
}

extension Equipment: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Equipment
    public static let protoName = "copslink.v1.Equipment"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__equipment__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__equipment__init)
        message.pointee.id = arena.cString(id)
        message.pointee.name = arena.cString(name)
        message.pointee.zone_number = arena.cString(zoneNumber)
        message.pointee.zone_description = arena.cString(zoneDescription)
        message.pointee.installed = installed ? 1 : 0
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), name: CField.string(message.pointee.name),
            zoneNumber: CField.string(message.pointee.zone_number), zoneDescription: CField.string(message.pointee.zone_description),
            installed: message.pointee.installed != 0)
    }
}

extension Customer: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Customer
    public static let protoName = "copslink.v1.Customer"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__customer__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__customer__init)
        message.pointee.id = arena.cString(id)
        message.pointee.first_name = arena.cString(firstName)
        message.pointee.last_name = arena.cString(lastName)
        message.pointee.company_name = arena.cString(companyName)
        message.pointee.address = address?.makeCMessage(in: &arena)
        message.pointee.premise_phone = arena.cString(premisePhone)
        message.pointee.passcode = arena.cString(passcode)
        message.pointee.n_equipment = equipment.count
        message.pointee.equipment = arena.repeatedMessages(equipment)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), firstName: CField.string(message.pointee.first_name),
            lastName: CField.string(message.pointee.last_name), companyName: CField.string(message.pointee.company_name),
            address: try CField.message(message.pointee.address, as: Address.self),
            premisePhone: CField.string(message.pointee.premise_phone), passcode: CField.string(message.pointee.passcode),
            equipment: try CField.messages(message.pointee.equipment, count: message.pointee.n_equipment, as: Equipment.self))
    }
}

extension Phone: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Phone
    public static let protoName = "copslink.v1.Phone"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__phone__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__phone__init)
        message.pointee.number = arena.cString(number)
        message.pointee.type = Copslink__V1__PhoneType(rawValue: type.rawValue)
        message.pointee.extension = arena.cString(`extension`)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            number: CField.string(message.pointee.number), type: PhoneType(rawValue: message.pointee.type.rawValue),
            extension: CField.string(message.pointee.extension))
    }
}

extension RespondingParty: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__RespondingParty
    public static let protoName = "copslink.v1.RespondingParty"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__responding_party__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__responding_party__init)
        message.pointee.id = arena.cString(id)
        message.pointee.priority = priority
        message.pointee.first_name = arena.cString(firstName)
        message.pointee.last_name = arena.cString(lastName)
        message.pointee.n_phones = phones.count
        message.pointee.phones = arena.repeatedMessages(phones)
        message.pointee.email = arena.cString(email)
        message.pointee.language = arena.cString(language)
        message.pointee.passcode = arena.cString(passcode)
        message.pointee.has_key = hasKey ? 1 : 0
        message.pointee.relation = arena.cString(relation)
        message.pointee.enhanced_verification = enhancedVerification ? 1 : 0
        message.pointee.role = Copslink__V1__PartyRole(rawValue: role.rawValue)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), priority: message.pointee.priority,
            firstName: CField.string(message.pointee.first_name), lastName: CField.string(message.pointee.last_name),
            phones: try CField.messages(message.pointee.phones, count: message.pointee.n_phones, as: Phone.self),
            email: CField.string(message.pointee.email), language: CField.string(message.pointee.language),
            passcode: CField.string(message.pointee.passcode), hasKey: message.pointee.has_key != 0,
            relation: CField.string(message.pointee.relation), enhancedVerification: message.pointee.enhanced_verification != 0,
            role: PartyRole(rawValue: message.pointee.role.rawValue))
    }
}

extension CentralStationParty: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__CentralStationParty
    public static let protoName = "copslink.v1.CentralStationParty"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__central_station_party__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__central_station_party__init)
        message.pointee.id = arena.cString(id)
        message.pointee.priority = priority
        message.pointee.first_name = arena.cString(firstName)
        message.pointee.last_name = arena.cString(lastName)
        message.pointee.n_phones = phones.count
        message.pointee.phones = arena.repeatedMessages(phones)
        message.pointee.role = Copslink__V1__PartyRole(rawValue: role.rawValue)
        message.pointee.has_key = hasKey ? 1 : 0
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), priority: message.pointee.priority,
            firstName: CField.string(message.pointee.first_name), lastName: CField.string(message.pointee.last_name),
            phones: try CField.messages(message.pointee.phones, count: message.pointee.n_phones, as: Phone.self),
            role: PartyRole(rawValue: message.pointee.role.rawValue), hasKey: message.pointee.has_key != 0)
    }
}

extension Authority: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Authority
    public static let protoName = "copslink.v1.Authority"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__authority__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__authority__init)
        message.pointee.id = arena.cString(id)
        message.pointee.type = Copslink__V1__AuthorityType(rawValue: type.rawValue)
        message.pointee.name = arena.cString(name)
        message.pointee.phone = arena.cString(phone)
        message.pointee.address = address?.makeCMessage(in: &arena)
        message.pointee.n_served_zips = servedZips.count
        message.pointee.served_zips = arena.cStrings(servedZips)
        message.pointee.jurisdiction = Copslink__V1__Jurisdiction(rawValue: jurisdiction.rawValue)
        message.pointee.permit_required = permitRequired ? 1 : 0
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), type: AuthorityType(rawValue: message.pointee.type.rawValue),
            name: CField.string(message.pointee.name), phone: CField.string(message.pointee.phone),
            address: try CField.message(message.pointee.address, as: Address.self),
            servedZips: CField.strings(message.pointee.served_zips, count: message.pointee.n_served_zips),
            jurisdiction: Jurisdiction(rawValue: message.pointee.jurisdiction.rawValue),
            permitRequired: message.pointee.permit_required != 0)
    }
}

extension AccountAuthority: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__AccountAuthority
    public static let protoName = "copslink.v1.AccountAuthority"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__account_authority__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__account_authority__init)
        message.pointee.id = arena.cString(id)
        message.pointee.authority = authority?.makeCMessage(in: &arena)
        message.pointee.permit_number = arena.cString(permitNumber)
        message.pointee.added_at_ms = addedAtMs
        message.pointee.added_by = arena.cString(addedBy)
        message.pointee.does_not_serve_zip = doesNotServeZip ? 1 : 0
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), authority: try CField.message(message.pointee.authority, as: Authority.self),
            permitNumber: CField.string(message.pointee.permit_number), addedAtMs: message.pointee.added_at_ms,
            addedBy: CField.string(message.pointee.added_by), doesNotServeZip: message.pointee.does_not_serve_zip != 0)
    }
}

extension Zone: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Zone
    public static let protoName = "copslink.v1.Zone"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__zone__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__zone__init)
        message.pointee.zone_number = arena.cString(zoneNumber)
        message.pointee.description = arena.cString(description)
        message.pointee.event_type = Copslink__V1__ZoneEventType(rawValue: eventType.rawValue)
        message.pointee.equipment_type = arena.cString(equipmentType)
        message.pointee.location = arena.cString(location)
        message.pointee.partition = partition
        message.pointee.restore_required = restoreRequired ? 1 : 0
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            zoneNumber: CField.string(message.pointee.zone_number), description: CField.string(message.pointee.description),
            eventType: ZoneEventType(rawValue: message.pointee.event_type.rawValue),
            equipmentType: CField.string(message.pointee.equipment_type), location: CField.string(message.pointee.location),
            partition: message.pointee.partition, restoreRequired: message.pointee.restore_required != 0)
    }
}

extension MappedZone: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__MappedZone
    public static let protoName = "copslink.v1.MappedZone"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__mapped_zone__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__mapped_zone__init)
        message.pointee.zone = zone?.makeCMessage(in: &arena)
        message.pointee.equipment = equipment?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            zone: try CField.message(message.pointee.zone, as: Zone.self),
            equipment: try CField.message(message.pointee.equipment, as: Equipment.self))
    }
}

extension TestCategory: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestCategory
    public static let protoName = "copslink.v1.TestCategory"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_category__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_category__init)
        message.pointee.id = arena.cString(id)
        message.pointee.description = arena.cString(description)
        message.pointee.default_duration_minutes = defaultDurationMinutes
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), description: CField.string(message.pointee.description),
            defaultDurationMinutes: message.pointee.default_duration_minutes)
    }
}

extension UserRef: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__UserRef
    public static let protoName = "copslink.v1.UserRef"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__user_ref__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__user_ref__init)
        message.pointee.id = arena.cString(id)
        message.pointee.name = arena.cString(name)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(id: CField.string(message.pointee.id), name: CField.string(message.pointee.name))
    }
}

extension TestAuthorization: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestAuthorization
    public static let protoName = "copslink.v1.TestAuthorization"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_authorization__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_authorization__init)
        message.pointee.responding_party_id = arena.cString(respondingPartyID)
        message.pointee.verified_by = arena.cString(verifiedBy)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            respondingPartyID: CField.string(message.pointee.responding_party_id),
            verifiedBy: CField.string(message.pointee.verified_by))
    }
}

extension TestSession: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestSession
    public static let protoName = "copslink.v1.TestSession"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_session__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_session__init)
        message.pointee.id = arena.cString(id)
        message.pointee.category = category?.makeCMessage(in: &arena)
        message.pointee.effective_at_ms = effectiveAtMs
        message.pointee.expires_at_ms = expiresAtMs
        message.pointee.scope = Copslink__V1__TestScope(rawValue: scope.rawValue)
        message.pointee.n_zone_numbers = zoneNumbers.count
        message.pointee.zone_numbers = arena.cStrings(zoneNumbers)
        message.pointee.comment = arena.cString(comment)
        message.pointee.placed_by = placedBy?.makeCMessage(in: &arena)
        message.pointee.authorized_by = authorizedBy?.makeCMessage(in: &arena)
        message.pointee.ended_at_ms = endedAtMs
        message.pointee.end_reason = Copslink__V1__TestEndReason(rawValue: endReason.rawValue)
        message.pointee.state = Copslink__V1__TestState(rawValue: state.rawValue)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            id: CField.string(message.pointee.id), category: try CField.message(message.pointee.category, as: TestCategory.self),
            effectiveAtMs: message.pointee.effective_at_ms, expiresAtMs: message.pointee.expires_at_ms,
            scope: TestScope(rawValue: message.pointee.scope.rawValue),
            zoneNumbers: CField.strings(message.pointee.zone_numbers, count: message.pointee.n_zone_numbers),
            comment: CField.string(message.pointee.comment),
            placedBy: try CField.message(message.pointee.placed_by, as: UserRef.self),
            authorizedBy: try CField.message(message.pointee.authorized_by, as: TestAuthorization.self),
            endedAtMs: message.pointee.ended_at_ms, endReason: TestEndReason(rawValue: message.pointee.end_reason.rawValue),
            state: TestState(rawValue: message.pointee.state.rawValue))
    }
}

extension TestStatus: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestStatus
    public static let protoName = "copslink.v1.TestStatus"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_status__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_status__init)
        message.pointee.on_test = onTest ? 1 : 0
        message.pointee.current = current?.makeCMessage(in: &arena)
        message.pointee.state = Copslink__V1__TestStatusState(rawValue: state.rawValue)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            onTest: message.pointee.on_test != 0, current: try CField.message(message.pointee.current, as: TestSession.self),
            state: TestStatusState(rawValue: message.pointee.state.rawValue))
    }
}

extension Account: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Account
    public static let protoName = "copslink.v1.Account"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__account__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__account__init)
        message.pointee.customer = customer?.makeCMessage(in: &arena)
        message.pointee.link_state = Copslink__V1__LinkState(rawValue: linkState.rawValue)
        message.pointee.account_number = arena.cString(accountNumber)
        message.pointee.receiver_number = arena.cString(receiverNumber)
        message.pointee.line = arena.cString(line)
        message.pointee.linked_at_ms = linkedAtMs
        message.pointee.unlinked_at_ms = unlinkedAtMs
        message.pointee.n_responding_parties = respondingParties.count
        message.pointee.responding_parties = arena.repeatedMessages(respondingParties)
        message.pointee.n_authorities = authorities.count
        message.pointee.authorities = arena.repeatedMessages(authorities)
        message.pointee.n_mapped_zones = mappedZones.count
        message.pointee.mapped_zones = arena.repeatedMessages(mappedZones)
        message.pointee.n_unmapped_zones = unmappedZones.count
        message.pointee.unmapped_zones = arena.repeatedMessages(unmappedZones)
        message.pointee.test_status = testStatus?.makeCMessage(in: &arena)
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
        let message = arena.message(CMessage.self, copslink__v1__test_history_entry__init)
        message.pointee.at_ms = atMs
        message.pointee.action = Copslink__V1__TestHistoryAction(rawValue: action.rawValue)
        message.pointee.session_id = arena.cString(sessionID)
        message.pointee.category = category?.makeCMessage(in: &arena)
        message.pointee.effective_at_ms = effectiveAtMs
        message.pointee.expires_at_ms = expiresAtMs
        message.pointee.user = user?.makeCMessage(in: &arena)
        message.pointee.comment = arena.cString(comment)
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
        let message = arena.message(CMessage.self, copslink__v1__test_result__init)
        message.pointee.received_at_ms = receivedAtMs
        message.pointee.account_number = arena.cString(accountNumber)
        message.pointee.zone_number = arena.cString(zoneNumber)
        message.pointee.zone_description = arena.cString(zoneDescription)
        message.pointee.event_code = arena.cString(eventCode)
        message.pointee.qualifier = qualifier
        message.pointee.event_description = arena.cString(eventDescription)
        message.pointee.user_number = arena.cString(userNumber)
        message.pointee.partition = partition
        message.pointee.raw_message = arena.cString(rawMessage)
        message.pointee.session_id = arena.cString(sessionID)
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
        let message = arena.message(CMessage.self, copslink__v1__signal__init)
        message.pointee.receiver_number = arena.cString(receiverNumber)
        message.pointee.line = arena.cString(line)
        message.pointee.account_number = arena.cString(accountNumber)
        message.pointee.received_at_ms = receivedAtMs
        message.pointee.contact_id = arena.cString(contactID)
        message.pointee.qualifier = qualifier
        message.pointee.event_code = arena.cString(eventCode)
        message.pointee.partition = partition
        message.pointee.zone_or_user = arena.cString(zoneOrUser)
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
