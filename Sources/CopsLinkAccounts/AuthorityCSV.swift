import CopsLinkCore
public import CopsLinkMessages

/// The authority directory as operators load it: a CSV file with a header row.
///
/// Columns: `id,type,name,phone,street1,street2,city,state,zip,served_zips,jurisdiction,permit_required`.
/// `type` and `jurisdiction` are names (`police`, `county`); `served_zips` is separated by spaces or semicolons;
/// `permit_required` is `yes`/`no` (or true/false, 1/0). Fields may be quoted with `"`, doubling inner quotes.
public enum AuthorityCSV {
    public static let header = [
        "id", "type", "name", "phone", "street1", "street2", "city", "state", "zip", "served_zips", "jurisdiction", "permit_required"
    ]

    /// Parses the whole file; the error names the line and what is wrong with it.
    public static func parse(_ text: String) throws(AccountError) -> [Authority] {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let first = lines.first, try fields(of: first, line: 1).map({ $0.lowercased() }) == header else {
            throw .invalid("line 1: the header must be \(header.joined(separator: ","))")
        }
        var authorities: [Authority] = []
        var lineByID: [String: Int] = [:]
        for (offset, line) in lines.enumerated().dropFirst() where !line.trimmingCharacters(in: " \t").isEmpty {
            let number = offset + 1
            let columns = try fields(of: line, line: number)
            guard columns.count == header.count else {
                throw .invalid("line \(number): expected \(header.count) columns, found \(columns.count)")
            }
            guard !columns[0].isEmpty else { throw .invalid("line \(number): the id is empty") }
            if let earlier = lineByID.updateValue(number, forKey: columns[0]) {
                throw .invalid("line \(number): id '\(ClientText.excerpt(columns[0]))' is on line \(earlier) too; each authority once")
            }
            guard !Validation.isBlank(columns[2]) else { throw .invalid("line \(number): the name is empty") }
            guard columns[7].isEmpty || Validation.usStateCodes.contains(columns[7]) else {
                throw .invalid("line \(number): state '\(ClientText.excerpt(columns[7]))' is not a US state or territory code (like UT)")
            }
            guard columns[8].isEmpty || Validation.isZip(columns[8]) else {
                throw .invalid("line \(number): zip '\(ClientText.excerpt(columns[8]))' must look like 84601 or 84601-1234")
            }
            let type = AuthorityType(name: columns[1])
            guard let type, type != .unspecified else { throw .invalid("line \(number): unknown authority type '\(columns[1])'") }
            let jurisdiction = columns[10].isEmpty ? Jurisdiction.unspecified : Jurisdiction(name: columns[10])
            guard let jurisdiction else { throw .invalid("line \(number): unknown jurisdiction '\(columns[10])'") }
            let zips = columns[9].split(whereSeparator: { $0 == " " || $0 == ";" }).map(String.init)
            guard !zips.isEmpty, zips.allSatisfy({ Validation.isZip($0) && $0.count == 5 }) else {
                throw .invalid("line \(number): served zips must be five-digit zip codes, got '\(columns[9])'")
            }
            guard
                let permit = ["yes": true, "true": true, "1": true, "no": false, "false": false, "0": false, "": false][
                    columns[11].lowercased()]
            else {
                throw .invalid("line \(number): permit_required must be yes or no, got '\(columns[11])'")
            }
            authorities.append(
                Authority(
                    id: columns[0], type: type, name: columns[2], phone: columns[3],
                    address: Address(street1: columns[4], street2: columns[5], city: columns[6], state: columns[7], zip: columns[8]),
                    servedZips: zips, jurisdiction: jurisdiction, permitRequired: permit))
        }
        return authorities
    }

    private static func fields(of line: Substring, line number: Int) throws(AccountError) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            switch (character, quoted) {
            case ("\"", false) where current.allSatisfy({ $0 == " " || $0 == "\t" }):
                current = ""
                quoted = true
            case ("\"", true):
                if let next = characters.next() {
                    if next == "\"" {
                        current.append("\"")
                    } else if next == "," {
                        fields.append(current)
                        current = ""
                        quoted = false
                    } else {
                        throw .invalid("line \(number): unexpected '\(next)' after a closing quote")
                    }
                } else {
                    quoted = false
                }
            case (",", false):
                fields.append(current.trimmingCharacters(in: " \t"))
                current = ""
            default: current.append(character)
            }
        }
        guard !quoted else { throw .invalid("line \(number): a quoted field is not closed") }
        fields.append(current.trimmingCharacters(in: " \t"))
        return fields
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
