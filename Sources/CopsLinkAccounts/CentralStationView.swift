import CopsLinkCore
public import CopsLinkMessages

/// What the central station gets to see. The one place that decides which fields leave CopsLink.
///
/// Responding parties: name, phones, priority, role and has-key are sent; email, relation, language, passcode and
/// the enhanced-verification flag stay local. The customer's passcode is never returned by any read.
public enum CentralStationView {
    public static func party(_ party: RespondingParty) -> CentralStationParty {
        CentralStationParty(
            id: party.id, priority: party.priority, firstName: party.firstName, lastName: party.lastName, phones: party.phones,
            role: party.role, hasKey: party.hasKey)
    }

    public static func customer(_ customer: Customer) -> Customer {
        var visible = customer
        visible.passcode = ""
        return visible
    }

    /// Central-station zones split into those that match an equipment zone number and those that do not.
    public static func mapZones(_ zones: [Zone], equipment: [Equipment]) -> (mapped: [MappedZone], unmapped: [Zone]) {
        let byZone = Dictionary(equipment.map { ($0.zoneNumber, $0) }, uniquingKeysWith: { first, _ in first })
        var mapped: [MappedZone] = []
        var unmapped: [Zone] = []
        for zone in zones.sorted(by: { $0.zoneNumber < $1.zoneNumber }) {
            if let match = byZone[zone.zoneNumber] {
                mapped.append(MappedZone(zone: zone, equipment: match))
            } else {
                unmapped.append(zone)
            }
        }
        return (mapped, unmapped)
    }
}
