public import CCopsLinkProtos
import CProtobufC
public import CopsLinkCore

extension LinkAccountRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__LinkAccountRequest
    public static let protoName = "copslink.v1.LinkAccountRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__link_account_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__link_account_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer = customer?.makeCMessage(in: &arena)
        message.pointee.n_responding_parties = respondingParties.count
        message.pointee.responding_parties = arena.repeatedMessages(respondingParties)
        message.pointee.account_number = arena.cString(accountNumber)
        message.pointee.receiver_number = arena.cString(receiverNumber)
        message.pointee.line = arena.cString(line)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id),
            customer: try CField.message(message.pointee.customer, as: Customer.self),
            respondingParties: try CField.messages(
                message.pointee.responding_parties, count: message.pointee.n_responding_parties, as: RespondingParty.self),
            accountNumber: CField.string(message.pointee.account_number),
            receiverNumber: CField.string(message.pointee.receiver_number), line: CField.string(message.pointee.line))
    }
}

extension LinkAccountResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__LinkAccountResponse
    public static let protoName = "copslink.v1.LinkAccountResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__link_account_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__link_account_response__init)
        message.pointee.account = account?.makeCMessage(in: &arena)
        message.pointee.created = created ? 1 : 0
        message.pointee.n_removed_party_ids = removedPartyIDs.count
        message.pointee.removed_party_ids = arena.cStrings(removedPartyIDs)
        message.pointee.n_removed_equipment_ids = removedEquipmentIDs.count
        message.pointee.removed_equipment_ids = arena.cStrings(removedEquipmentIDs)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            account: try CField.message(message.pointee.account, as: Account.self), created: message.pointee.created != 0,
            removedPartyIDs: CField.strings(message.pointee.removed_party_ids, count: message.pointee.n_removed_party_ids),
            removedEquipmentIDs: CField.strings(message.pointee.removed_equipment_ids, count: message.pointee.n_removed_equipment_ids))
    }
}

extension GetAccountRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__GetAccountRequest
    public static let protoName = "copslink.v1.GetAccountRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__get_account_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__get_account_request__init)
        message.pointee.customer_id = arena.cString(customerID)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(customerID: CField.string(message.pointee.customer_id))
    }
}

extension UnlinkAccountRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__UnlinkAccountRequest
    public static let protoName = "copslink.v1.UnlinkAccountRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__unlink_account_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__unlink_account_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer_id = arena.cString(customerID)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(requestID: CField.string(message.pointee.request_id), customerID: CField.string(message.pointee.customer_id))
    }
}

extension UnlinkAccountResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__UnlinkAccountResponse
    public static let protoName = "copslink.v1.UnlinkAccountResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__unlink_account_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__unlink_account_response__init)
        message.pointee.was_linked = wasLinked ? 1 : 0
        message.pointee.account = account?.makeCMessage(in: &arena)
        message.pointee.ended_test = endedTest?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            wasLinked: message.pointee.was_linked != 0, account: try CField.message(message.pointee.account, as: Account.self),
            endedTest: try CField.message(message.pointee.ended_test, as: TestSession.self))
    }
}

extension SyncCustomerRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SyncCustomerRequest
    public static let protoName = "copslink.v1.SyncCustomerRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__sync_customer_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__sync_customer_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer = customer?.makeCMessage(in: &arena)
        message.pointee.n_responding_parties = respondingParties.count
        message.pointee.responding_parties = arena.repeatedMessages(respondingParties)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id),
            customer: try CField.message(message.pointee.customer, as: Customer.self),
            respondingParties: try CField.messages(
                message.pointee.responding_parties, count: message.pointee.n_responding_parties, as: RespondingParty.self))
    }
}

extension SyncCustomerResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SyncCustomerResponse
    public static let protoName = "copslink.v1.SyncCustomerResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__sync_customer_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__sync_customer_response__init)
        message.pointee.account = account?.makeCMessage(in: &arena)
        message.pointee.n_removed_party_ids = removedPartyIDs.count
        message.pointee.removed_party_ids = arena.cStrings(removedPartyIDs)
        message.pointee.n_removed_equipment_ids = removedEquipmentIDs.count
        message.pointee.removed_equipment_ids = arena.cStrings(removedEquipmentIDs)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            account: try CField.message(message.pointee.account, as: Account.self),
            removedPartyIDs: CField.strings(message.pointee.removed_party_ids, count: message.pointee.n_removed_party_ids),
            removedEquipmentIDs: CField.strings(message.pointee.removed_equipment_ids, count: message.pointee.n_removed_equipment_ids))
    }
}

extension SearchAuthoritiesRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SearchAuthoritiesRequest
    public static let protoName = "copslink.v1.SearchAuthoritiesRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__search_authorities_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__search_authorities_request__init)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.type = Copslink__V1__AuthorityType(rawValue: type.rawValue)
        message.pointee.zip = arena.cString(zip)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            customerID: CField.string(message.pointee.customer_id), type: AuthorityType(rawValue: message.pointee.type.rawValue),
            zip: CField.string(message.pointee.zip))
    }
}

extension SearchAuthoritiesResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SearchAuthoritiesResponse
    public static let protoName = "copslink.v1.SearchAuthoritiesResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__search_authorities_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__search_authorities_response__init)
        message.pointee.n_authorities = authorities.count
        message.pointee.authorities = arena.repeatedMessages(authorities)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(authorities: try CField.messages(message.pointee.authorities, count: message.pointee.n_authorities, as: Authority.self))
    }
}

extension AuthorityToAdd: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__AuthorityToAdd
    public static let protoName = "copslink.v1.AuthorityToAdd"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__authority_to_add__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__authority_to_add__init)
        message.pointee.authority_id = arena.cString(authorityID)
        message.pointee.permit_number = arena.cString(permitNumber)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(authorityID: CField.string(message.pointee.authority_id), permitNumber: CField.string(message.pointee.permit_number))
    }
}

extension AddAccountAuthoritiesRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__AddAccountAuthoritiesRequest
    public static let protoName = "copslink.v1.AddAccountAuthoritiesRequest"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__add_account_authorities_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__add_account_authorities_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.n_authorities = authorities.count
        message.pointee.authorities = arena.repeatedMessages(authorities)
        message.pointee.added_by = arena.cString(addedBy)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id), customerID: CField.string(message.pointee.customer_id),
            authorities: try CField.messages(message.pointee.authorities, count: message.pointee.n_authorities, as: AuthorityToAdd.self),
            addedBy: CField.string(message.pointee.added_by))
    }
}

extension AddAccountAuthoritiesResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__AddAccountAuthoritiesResponse
    public static let protoName = "copslink.v1.AddAccountAuthoritiesResponse"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__add_account_authorities_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__add_account_authorities_response__init)
        message.pointee.n_added = added.count
        message.pointee.added = arena.repeatedMessages(added)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(added: try CField.messages(message.pointee.added, count: message.pointee.n_added, as: AccountAuthority.self))
    }
}

extension RemoveAccountAuthorityRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__RemoveAccountAuthorityRequest
    public static let protoName = "copslink.v1.RemoveAccountAuthorityRequest"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__remove_account_authority_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__remove_account_authority_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.account_authority_id = arena.cString(accountAuthorityID)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id), customerID: CField.string(message.pointee.customer_id),
            accountAuthorityID: CField.string(message.pointee.account_authority_id))
    }
}

extension RemoveAccountAuthorityResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__RemoveAccountAuthorityResponse
    public static let protoName = "copslink.v1.RemoveAccountAuthorityResponse"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__remove_account_authority_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__remove_account_authority_response__init)
        message.pointee.removed = removed?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(removed: try CField.message(message.pointee.removed, as: AccountAuthority.self))
    }
}

extension SetCentralStationZonesRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SetCentralStationZonesRequest
    public static let protoName = "copslink.v1.SetCentralStationZonesRequest"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__set_central_station_zones_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__set_central_station_zones_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.n_zones = zones.count
        message.pointee.zones = arena.repeatedMessages(zones)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id), customerID: CField.string(message.pointee.customer_id),
            zones: try CField.messages(message.pointee.zones, count: message.pointee.n_zones, as: Zone.self))
    }
}

extension SetCentralStationZonesResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SetCentralStationZonesResponse
    public static let protoName = "copslink.v1.SetCentralStationZonesResponse"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__set_central_station_zones_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__set_central_station_zones_response__init)
        message.pointee.n_mapped_zones = mappedZones.count
        message.pointee.mapped_zones = arena.repeatedMessages(mappedZones)
        message.pointee.n_unmapped_zones = unmappedZones.count
        message.pointee.unmapped_zones = arena.repeatedMessages(unmappedZones)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            mappedZones: try CField.messages(message.pointee.mapped_zones, count: message.pointee.n_mapped_zones, as: MappedZone.self),
            unmappedZones: try CField.messages(message.pointee.unmapped_zones, count: message.pointee.n_unmapped_zones, as: Zone.self))
    }
}

extension ListTestCategoriesRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__ListTestCategoriesRequest
    public static let protoName = "copslink.v1.ListTestCategoriesRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__list_test_categories_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        arena.message(CMessage.self, copslink__v1__list_test_categories_request__init)
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) { self.init() }
}

extension ListTestCategoriesResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__ListTestCategoriesResponse
    public static let protoName = "copslink.v1.ListTestCategoriesResponse"
    public static let cDescriptor = ProtobufCDescriptor(
        initializing: CMessage.self, with: copslink__v1__list_test_categories_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__list_test_categories_response__init)
        message.pointee.n_categories = categories.count
        message.pointee.categories = arena.repeatedMessages(categories)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(categories: try CField.messages(message.pointee.categories, count: message.pointee.n_categories, as: TestCategory.self))
    }
}

extension GetTestStatusRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__GetTestStatusRequest
    public static let protoName = "copslink.v1.GetTestStatusRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__get_test_status_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__get_test_status_request__init)
        message.pointee.customer_id = arena.cString(customerID)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(customerID: CField.string(message.pointee.customer_id))
    }
}

extension PlaceOnTestRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__PlaceOnTestRequest
    public static let protoName = "copslink.v1.PlaceOnTestRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__place_on_test_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__place_on_test_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.category_id = arena.cString(categoryID)
        message.pointee.duration_hours = durationHours
        message.pointee.duration_minutes = durationMinutes
        message.pointee.effective_at_ms = effectiveAtMs
        message.pointee.scope = Copslink__V1__TestScope(rawValue: scope.rawValue)
        message.pointee.n_zone_numbers = zoneNumbers.count
        message.pointee.zone_numbers = arena.cStrings(zoneNumbers)
        message.pointee.comment = arena.cString(comment)
        message.pointee.placed_by = placedBy?.makeCMessage(in: &arena)
        message.pointee.authorized_by = authorizedBy?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id), customerID: CField.string(message.pointee.customer_id),
            categoryID: CField.string(message.pointee.category_id), durationHours: message.pointee.duration_hours,
            durationMinutes: message.pointee.duration_minutes, effectiveAtMs: message.pointee.effective_at_ms,
            scope: TestScope(rawValue: message.pointee.scope.rawValue),
            zoneNumbers: CField.strings(message.pointee.zone_numbers, count: message.pointee.n_zone_numbers),
            comment: CField.string(message.pointee.comment),
            placedBy: try CField.message(message.pointee.placed_by, as: UserRef.self),
            authorizedBy: try CField.message(message.pointee.authorized_by, as: TestAuthorization.self))
    }
}

extension PlaceOnTestResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__PlaceOnTestResponse
    public static let protoName = "copslink.v1.PlaceOnTestResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__place_on_test_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__place_on_test_response__init)
        message.pointee.session = session?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(session: try CField.message(message.pointee.session, as: TestSession.self))
    }
}

extension PlaceOffTestRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__PlaceOffTestRequest
    public static let protoName = "copslink.v1.PlaceOffTestRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__place_off_test_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__place_off_test_request__init)
        message.pointee.request_id = arena.cString(requestID)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.placed_by = placedBy?.makeCMessage(in: &arena)
        message.pointee.comment = arena.cString(comment)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            requestID: CField.string(message.pointee.request_id), customerID: CField.string(message.pointee.customer_id),
            placedBy: try CField.message(message.pointee.placed_by, as: UserRef.self), comment: CField.string(message.pointee.comment))
    }
}

extension PlaceOffTestResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__PlaceOffTestResponse
    public static let protoName = "copslink.v1.PlaceOffTestResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__place_off_test_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__place_off_test_response__init)
        message.pointee.session = session?.makeCMessage(in: &arena)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(session: try CField.message(message.pointee.session, as: TestSession.self))
    }
}

extension RequestTestDataRequest: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__RequestTestDataRequest
    public static let protoName = "copslink.v1.RequestTestDataRequest"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__request_test_data_request__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__request_test_data_request__init)
        message.pointee.customer_id = arena.cString(customerID)
        message.pointee.type = Copslink__V1__TestDataType(rawValue: type.rawValue)
        message.pointee.from_ms = fromMs
        message.pointee.to_ms = toMs
        message.pointee.page_size = pageSize
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            customerID: CField.string(message.pointee.customer_id), type: TestDataType(rawValue: message.pointee.type.rawValue),
            fromMs: message.pointee.from_ms, toMs: message.pointee.to_ms, pageSize: message.pointee.page_size)
    }
}

extension TestDataPage: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__TestDataPage
    public static let protoName = "copslink.v1.TestDataPage"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__test_data_page__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__test_data_page__init)
        message.pointee.n_history = history.count
        message.pointee.history = arena.repeatedMessages(history)
        message.pointee.n_results = results.count
        message.pointee.results = arena.repeatedMessages(results)
        message.pointee.n_signals = signals.count
        message.pointee.signals = arena.repeatedMessages(signals)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            history: try CField.messages(message.pointee.history, count: message.pointee.n_history, as: TestHistoryEntry.self),
            results: try CField.messages(message.pointee.results, count: message.pointee.n_results, as: TestResult.self),
            signals: try CField.messages(message.pointee.signals, count: message.pointee.n_signals, as: TestResult.self))
    }
}

extension SignalRejection: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__SignalRejection
    public static let protoName = "copslink.v1.SignalRejection"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__signal_rejection__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__signal_rejection__init)
        message.pointee.index = index
        message.pointee.reason = arena.cString(reason)
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(index: message.pointee.index, reason: CField.string(message.pointee.reason))
    }
}

extension ReportSignalsResponse: ProtobufCCodable {
    public typealias CMessage = Copslink__V1__ReportSignalsResponse
    public static let protoName = "copslink.v1.ReportSignalsResponse"
    public static let cDescriptor = ProtobufCDescriptor(initializing: CMessage.self, with: copslink__v1__report_signals_response__init)

    public func makeCMessage(in arena: inout ProtobufArena) -> UnsafeMutablePointer<CMessage> {
        let message = arena.message(CMessage.self, copslink__v1__report_signals_response__init)
        message.pointee.received = received
        message.pointee.test_results = testResults
        message.pointee.stored_as_history = storedAsHistory
        message.pointee.n_rejected = rejected.count
        message.pointee.rejected = arena.repeatedMessages(rejected)
        message.pointee.rejected_count = rejectedCount
        return message
    }

    public init(cMessage message: UnsafePointer<CMessage>) throws(RPCError) {
        self.init(
            received: message.pointee.received, testResults: message.pointee.test_results,
            storedAsHistory: message.pointee.stored_as_history,
            rejected: try CField.messages(message.pointee.rejected, count: message.pointee.n_rejected, as: SignalRejection.self),
            rejectedCount: message.pointee.rejected_count)
    }
}
