public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

// Each type builds its C struct from its address (`makeCMessage(at:in:)`, fields read in place): these types are
// the elements of repeated fields, where building from a copy cost a retain and release of each string in them.

extension Address: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__Address
    public static let protoName = "copslink.v1.Address"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__address__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__address__init)
        message.pointee.street1 = arena.cString(value, \.street1)
        message.pointee.street2 = arena.cString(value, \.street2)
        message.pointee.city = arena.cString(value, \.city)
        message.pointee.state = arena.cString(value, \.state)
        message.pointee.zip = arena.cString(value, \.zip)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__equipment__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.name = arena.cString(value, \.name)
        message.pointee.zone_number = arena.cString(value, \.zoneNumber)
        message.pointee.zone_description = arena.cString(value, \.zoneDescription)
        message.pointee.installed = value.pointee.installed ? 1 : 0
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__customer__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.first_name = arena.cString(value, \.firstName)
        message.pointee.last_name = arena.cString(value, \.lastName)
        message.pointee.company_name = arena.cString(value, \.companyName)
        message.pointee.address = arena.message(value, \.address)
        message.pointee.premise_phone = arena.cString(value, \.premisePhone)
        message.pointee.passcode = arena.cString(value, \.passcode)
        message.pointee.n_equipment = value.pointee.equipment.count
        message.pointee.equipment = arena.repeatedMessages(value.pointee.equipment)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__phone__init)
        message.pointee.number = arena.cString(value, \.number)
        message.pointee.type = Copslink__V1__PhoneType(rawValue: value.pointee.type.rawValue)
        message.pointee.extension = arena.cString(value, \.`extension`)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__responding_party__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.priority = value.pointee.priority
        message.pointee.first_name = arena.cString(value, \.firstName)
        message.pointee.last_name = arena.cString(value, \.lastName)
        message.pointee.n_phones = value.pointee.phones.count
        message.pointee.phones = arena.repeatedMessages(value.pointee.phones)
        message.pointee.email = arena.cString(value, \.email)
        message.pointee.language = arena.cString(value, \.language)
        message.pointee.passcode = arena.cString(value, \.passcode)
        message.pointee.has_key = value.pointee.hasKey ? 1 : 0
        message.pointee.relation = arena.cString(value, \.relation)
        message.pointee.enhanced_verification = value.pointee.enhancedVerification ? 1 : 0
        message.pointee.role = Copslink__V1__PartyRole(rawValue: value.pointee.role.rawValue)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__central_station_party__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.priority = value.pointee.priority
        message.pointee.first_name = arena.cString(value, \.firstName)
        message.pointee.last_name = arena.cString(value, \.lastName)
        message.pointee.n_phones = value.pointee.phones.count
        message.pointee.phones = arena.repeatedMessages(value.pointee.phones)
        message.pointee.role = Copslink__V1__PartyRole(rawValue: value.pointee.role.rawValue)
        message.pointee.has_key = value.pointee.hasKey ? 1 : 0
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__authority__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.type = Copslink__V1__AuthorityType(rawValue: value.pointee.type.rawValue)
        message.pointee.name = arena.cString(value, \.name)
        message.pointee.phone = arena.cString(value, \.phone)
        message.pointee.address = arena.message(value, \.address)
        message.pointee.n_served_zips = value.pointee.servedZips.count
        message.pointee.served_zips = arena.cStrings(value.pointee.servedZips)
        message.pointee.jurisdiction = Copslink__V1__Jurisdiction(rawValue: value.pointee.jurisdiction.rawValue)
        message.pointee.permit_required = value.pointee.permitRequired ? 1 : 0
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__account_authority__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.authority = arena.message(value, \.authority)
        message.pointee.permit_number = arena.cString(value, \.permitNumber)
        message.pointee.added_at_ms = value.pointee.addedAtMs
        message.pointee.added_by = arena.cString(value, \.addedBy)
        message.pointee.does_not_serve_zip = value.pointee.doesNotServeZip ? 1 : 0
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__zone__init)
        message.pointee.zone_number = arena.cString(value, \.zoneNumber)
        message.pointee.description = arena.cString(value, \.description)
        message.pointee.event_type = Copslink__V1__ZoneEventType(rawValue: value.pointee.eventType.rawValue)
        message.pointee.equipment_type = arena.cString(value, \.equipmentType)
        message.pointee.location = arena.cString(value, \.location)
        message.pointee.partition = value.pointee.partition
        message.pointee.restore_required = value.pointee.restoreRequired ? 1 : 0
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__mapped_zone__init)
        message.pointee.zone = arena.message(value, \.zone)
        message.pointee.equipment = arena.message(value, \.equipment)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_category__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.description = arena.cString(value, \.description)
        message.pointee.default_duration_minutes = value.pointee.defaultDurationMinutes
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__user_ref__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.name = arena.cString(value, \.name)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_authorization__init)
        message.pointee.responding_party_id = arena.cString(value, \.respondingPartyID)
        message.pointee.verified_by = arena.cString(value, \.verifiedBy)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_session__init)
        message.pointee.id = arena.cString(value, \.id)
        message.pointee.category = arena.message(value, \.category)
        message.pointee.effective_at_ms = value.pointee.effectiveAtMs
        message.pointee.expires_at_ms = value.pointee.expiresAtMs
        message.pointee.scope = Copslink__V1__TestScope(rawValue: value.pointee.scope.rawValue)
        message.pointee.n_zone_numbers = value.pointee.zoneNumbers.count
        message.pointee.zone_numbers = arena.cStrings(value.pointee.zoneNumbers)
        message.pointee.comment = arena.cString(value, \.comment)
        message.pointee.placed_by = arena.message(value, \.placedBy)
        message.pointee.authorized_by = arena.message(value, \.authorizedBy)
        message.pointee.ended_at_ms = value.pointee.endedAtMs
        message.pointee.end_reason = Copslink__V1__TestEndReason(rawValue: value.pointee.endReason.rawValue)
        message.pointee.state = Copslink__V1__TestState(rawValue: value.pointee.state.rawValue)
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
        makeCMessageInPlace(in: &arena)
    }

    public static func makeCMessage(at value: UnsafePointer<Self>, in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_status__init)
        message.pointee.on_test = value.pointee.onTest ? 1 : 0
        message.pointee.current = arena.message(value, \.current)
        message.pointee.state = Copslink__V1__TestStatusState(rawValue: value.pointee.state.rawValue)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            onTest: message.pointee.on_test != 0, current: try CField.message(message.pointee.current, as: TestSession.self),
            state: TestStatusState(rawValue: message.pointee.state.rawValue))
    }
}
