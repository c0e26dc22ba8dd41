import ArgumentParser
import CopsLinkAccounts
import CopsLinkMessages
import Foundation
import Logging

struct ImportAuthoritiesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-authorities",
        abstract: "Loads the authority directory from a CSV file (entries with the same id are replaced).",
        discussion: """
            Columns: \(AuthorityCSV.header.joined(separator: ","))
            type: police, fire, medical, guard, electrical. jurisdiction: city, county, state, military, university, regional.
            served_zips: five-digit zips separated by spaces or semicolons. permit_required: yes or no.

            Example:
              copslink-server import-authorities --database data/copslink.sqlite \\
                Sources/CopsLinkAccounts/Resources/authorities-sample.csv
            """)

    @OptionGroup var databaseOptions: DatabaseOptions
    @Argument(help: "The CSV file.") var file: String
    @Flag(help: "Create the database when --database does not exist (else refused).") var create = false

    func validate() throws { try databaseOptions.validateExists(create: create, offersCreate: true) }

    func run() async throws {
        // A file that cannot be read is EX_NOINPUT (66), one that does not parse a data error (65); neither is a usage
        // error, so no usage text.
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            FileHandle.standardError.write(
                Data("copslink-server import-authorities: cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode(66)
        }
        let authorities: [Authority]
        do {
            authorities = try AuthorityCSV.parse(text)
        } catch {
            FileHandle.standardError.write(
                Data("copslink-server import-authorities: \(file): \(error.message); nothing was imported\n".utf8))
            throw ExitCode(65)
        }
        let opened = try await databaseOptions.open(logger: Logger(label: "copslink.import-authorities"))
        do {
            try await opened.store.write(.allDealers) { try $0.saveAuthorities(authorities) }
        } catch let error as AccountError {
            // A rule of the directory the file would break (a type change under accounts): all or nothing.
            try? await opened.close()
            FileHandle.standardError.write(
                Data("copslink-server import-authorities: \(file): \(error.message); nothing was imported\n".utf8))
            throw ExitCode(65)
        }
        try await opened.close()
        print("imported \(authorities.count) authorities into \(databaseOptions.described)")
    }
}
