public import CopsLinkMessages

/// Messages shared by the codec tests and the codec benchmarks, so that both measure and check the same bytes.
public enum MessageFixtures {
    private static let equipment = [
        Equipment(id: "eq-1", name: "Door", zoneNumber: "001", zoneDescription: "Front", installed: true),
        Equipment(id: "eq-2", name: "Motion", zoneNumber: "002", zoneDescription: "Hall", installed: true),
        Equipment(id: "eq-3", name: "Smoke", zoneNumber: "003", zoneDescription: "Kitchen")
    ]

    /// Every field set, nested messages included, and an unknown enum value (`PhoneType` 42): the message of
    /// Tests/CopsLinkMessagesTests/Vectors/account_full.bin (869 bytes), which protoc encoded from account_full.txtpb.
    public static let account = Account(
        customer: Customer(
            id: "cust-1001", firstName: "Zoë", lastName: "Lovelace", companyName: "Engines LLC",
            address: Address(street1: "12 Elm St", street2: "Suite 3", city: "Salem", state: "IL", zip: "62704"),
            premisePhone: "555-0100", equipment: equipment),
        linkState: .linked, accountNumber: "C123456", receiverNumber: "R2", line: "L1", linkedAtMs: 1_717_171_717_171,
        unlinkedAtMs: 1_700_000_000_000,
        respondingParties: [
            CentralStationParty(
                id: "rp-1", priority: 1, firstName: "Charles", lastName: "Babbage",
                phones: [Phone(number: "555-0101", type: .mobile), Phone(number: "555-0102", type: .work, extension: "42")],
                role: .keyholder, hasKey: true),
            CentralStationParty(
                id: "rp-2", priority: 2, firstName: "Mary", lastName: "Somerville",
                phones: [Phone(number: "555-0103", type: PhoneType(rawValue: 42))], role: .contact)
        ],
        authorities: [
            AccountAuthority(
                id: "aa-1",
                authority: Authority(
                    id: "pd-1", type: .police, name: "Springfield PD", phone: "555-0911",
                    address: Address(street1: "800 Monroe", city: "Salem", state: "IL", zip: "62701"), servedZips: ["62701", "62704"],
                    jurisdiction: .city, permitRequired: true),
                permitNumber: "P-42", addedAtMs: 1_717_171_800_000, addedBy: "jsmith"),
            AccountAuthority(
                id: "aa-2",
                authority: Authority(
                    id: "fd-7", type: .fire, name: "County Fire", phone: "555-0912",
                    address: Address(street1: "2 Rt 4", street2: "Stn 7", city: "Chatham", state: "IL", zip: "62629"),
                    servedZips: ["62629"], jurisdiction: .county),
                addedAtMs: 1_717_171_900_000, addedBy: "jsmith")
        ],
        mappedZones: [
            MappedZone(
                zone: Zone(
                    zoneNumber: "001", description: "Front", eventType: .burglary, equipmentType: "Door", location: "Hall", partition: 1),
                equipment: equipment[0]),
            MappedZone(
                zone: Zone(
                    zoneNumber: "002", description: "Hall", eventType: .burglary, equipmentType: "PIR", location: "Hall", partition: 1),
                equipment: equipment[1]),
            MappedZone(
                zone: Zone(
                    zoneNumber: "003", description: "Kitchen", eventType: .fire, equipmentType: "Smoke", location: "Kitchen", partition: 1,
                    restoreRequired: true),
                equipment: equipment[2])
        ],
        unmappedZones: [Zone(zoneNumber: "010", description: "Panic", eventType: .panic, location: "Bedroom", partition: 2)],
        testStatus: TestStatus(
            onTest: true,
            current: TestSession(
                id: "ts-77", category: TestCategory(id: "tech", description: "Tech on site", defaultDurationMinutes: 120),
                effectiveAtMs: 1_717_200_000_000, expiresAtMs: 1_717_207_200_000, scope: .onlyListed, zoneNumbers: ["001", "003"],
                comment: "New smoke head", placedBy: UserRef(id: "u-9", name: "Jane Tech"),
                authorizedBy: TestAuthorization(respondingPartyID: "rp-1", verifiedBy: "passcode"), state: .active)))
}
