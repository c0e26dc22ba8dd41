import ArgumentParser
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Foundation

struct ZonesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zones",
        abstract: "Set the zones entered at the central station.",
        subcommands: [ZonesSet.self])
}

struct ZonesSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Replaces the account's central-station zones; prints them mapped to equipment or unmapped.",
        discussion: """
            Each --zone is NUMBER:DESCRIPTION[:EVENT_TYPE[:PARTITION]]; NUMBER is 001-999. EVENT_TYPE: burglary, \
            fire, panic, medical, duress, non-burglary-24h, fire-supervisory, trouble, open-close, test. Zones map \
            to the customer's equipment with the same zone number; the others are listed as unmapped. \
            The list replaces every zone: give them all, or --clear to remove them all.

            Examples:
              copslink zones set demo-2 --zone "001:Shop door:burglary:1" \\
                --zone "002:Office motion:burglary:1" --zone "010:Panic button:panic:1"
              copslink zones set demo-4 --clear
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Argument(help: "The customer id.") var customer: String
    @Option(help: ArgumentHelp("A zone; repeatable.", valueName: "number:description[:event-type[:partition]]"))
    var zone: [String] = []
    @Flag(help: "Remove every central-station zone (no --zone given).") var clear = false

    func validate() throws {
        if zone.isEmpty, !clear { throw ValidationError("Give at least one --zone, or --clear to remove every zone.") }
        if !zone.isEmpty, clear { throw ValidationError("--clear removes every zone; do not combine it with --zone.") }
        _ = try zones()
    }

    func zones() throws(ValidationError) -> [Zone] {
        try zone.map { (text: String) throws(ValidationError) -> Zone in
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard (2...4).contains(parts.count) else {
                throw ValidationError(
                    "--zone '\(text)' must look like NUMBER:DESCRIPTION[:EVENT_TYPE[:PARTITION]], e.g. \"010:Panic button:panic\".")
            }
            var eventType = ZoneEventType.unspecified
            if parts.count >= 3, !parts[2].isEmpty {
                guard let named = ZoneEventType(name: parts[2].replacingOccurrences(of: "-", with: "_")), named != .unspecified else {
                    let names = ZoneEventType.names.filter { $0.key != 0 }.sorted { $0.key < $1.key }
                        .map { $0.value.lowercased().replacingOccurrences(of: "_", with: "-") }
                    throw ValidationError("--zone '\(text)': unknown event type '\(parts[2])'; choose \(names.joined(separator: ", ")).")
                }
                eventType = named
            }
            var partition: UInt32 = 0
            if parts.count == 4, !parts[3].isEmpty {
                guard let number = UInt32(parts[3]) else { throw ValidationError("--zone '\(text)': the partition must be a number.") }
                partition = number
            }
            return Zone(zoneNumber: parts[0], description: parts[1], eventType: eventType, partition: partition)
        }
    }

    func run() async throws {
        let zones = try zones()
        try await Session.run(global) { session in
            let answer = try await session.mutate(
                AccountService.Method.setCentralStationZones,
                SetCentralStationZonesRequest(requestID: session.requestID, customerID: customer, zones: zones),
                as: SetCentralStationZonesResponse.self)
            let response = answer.message
            let total = response.mappedZones.count + response.unmappedZones.count
            let text =
                "\(customer): \(response.mappedZones.count) mapped, \(response.unmappedZones.count) unmapped."
                + (total == 0 ? "" : "\n\n" + ZoneText.table(mapped: response.mappedZones, unmapped: response.unmappedZones).render())
            try session.emit(answer, text: text)
        }
    }
}

enum ZoneText {
    /// Mapped zones with their equipment, then the unmapped ones, by zone number.
    static func table(mapped: [MappedZone], unmapped: [Zone]) -> Table {
        var rows: [(String, [String])] = []
        for item in mapped {
            let zone = item.zone
            let equipment = item.equipment.map { "\($0.name) (\($0.id))" } ?? "-"
            rows.append((zone?.zoneNumber ?? "", row(zone, equipment: equipment)))
        }
        for zone in unmapped { rows.append((zone.zoneNumber, row(zone, equipment: "unmapped"))) }
        var table = Table("ZONE", "DESCRIPTION", "EVENT TYPE", "PARTITION", "EQUIPMENT")
        table.rows = rows.sorted { $0.0 < $1.0 }.map(\.1)
        return table
    }

    private static func row(_ zone: Zone?, equipment: String) -> [String] {
        [
            zone?.zoneNumber ?? "-", Format.dash(zone?.description ?? ""), zone?.eventType.description ?? "-",
            zone.map { $0.partition == 0 ? "-" : "\($0.partition)" } ?? "-", equipment
        ]
    }
}
