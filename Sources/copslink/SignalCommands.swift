import ArgumentParser
import CopsLinkCommandLine
import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Foundation

struct SignalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signals",
        abstract: "Report received alarm signals (Contact ID).",
        subcommands: [SignalsSend.self])
}

struct SignalsSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Streams Contact ID messages to the server; prints how each was stored.",
        discussion: """
            A Contact ID message is ACCT MT Q EEE GG CCC S: 16 characters, spaces optional, with the checksum digit \
            S (digit values, 0 counting 10 and B-F 11-15, add up to a multiple of 15). Signals of an account on \
            test, in the test's scope, become test results; others become signal history. Bad signals are listed \
            as rejected and do not fail the command (exit 0). --account names the central-station account number \
            when the 4-digit account of the message is not it. --file reads one message per line (- for stdin; \
            empty lines and lines starting with # are skipped). With --json: the ReportSignalsResponse, and \
            "rejected_contact_ids", the Contact ID message of each "rejected" entry in the same order.

            Examples:
              copslink signals send --account 22-8761 "8761 18 1 130 01 001 C"
              copslink signals send --account 22-8763 --file signals.txt
              printf '8761 18 1 130 01 001 C\\n' | \\
                copslink signals send --account 22-8761 --file -
            """)

    @OptionGroup(title: "Global Options") var global: GlobalOptions
    @Option(help: "Central-station account number the signals belong to, e.g. 22-8761.") var account = ""
    @Option(help: "Receiver number.") var receiver = ""
    @Option(help: "Receiver line.") var line = ""
    @Option(help: ArgumentHelp("Read Contact ID messages from FILE, one per line; - reads stdin.", valueName: "file")) var file: String?
    @Argument(help: ArgumentHelp("Contact ID messages.", valueName: "contact-id")) var contactIDs: [String] = []

    func validate() throws {
        if contactIDs.isEmpty, file == nil { throw ValidationError("Give Contact ID messages, or --file FILE (- for stdin).") }
    }

    func messages() throws -> [String] {
        var messages = contactIDs
        if let file {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw ValidationError("--file: cannot read '\(file)'.")
                }
                data = contents
            }
            for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty, !trimmed.hasPrefix("#") { messages.append(trimmed) }
            }
        }
        return messages
    }

    func run() async throws {
        // ReportSignals keeps no answers to replay: a second run with the same id would store the signals again.
        guard global.requestID == nil else {
            throw ValidationError(
                "--request-id does not apply to signals send: the server does not replay ReportSignals, so sending the same signals again stores them again."
            )
        }
        let messages = try messages()
        let signals = messages.map { Signal(receiverNumber: receiver, line: line, accountNumber: account, contactID: $0) }
        try await Session.run(global) { session in
            let stream = AsyncStream<Signal> { continuation in
                for signal in signals { continuation.yield(signal) }
                continuation.finish()
            }
            let response = try await session.accounts.reportSignals(stream, options: session.options)
            var text =
                "Received \(response.received): \(Format.count(response.testResults, "test result", "test results")), "
                + "\(response.storedAsHistory) signal history, \(response.rejectedCount) rejected"
                + (response.rejected.count < response.rejectedCount ? " (the first \(response.rejected.count) listed)." : ".")
            if !response.rejected.isEmpty {
                var table = Table("INDEX", "CONTACT ID", "REASON")
                for rejection in response.rejected {
                    let index = Int(rejection.index)
                    table.add("\(index)", index < messages.count ? messages[index] : "-", rejection.reason)
                }
                text += "\n\n" + table.render()
            }
            // The CLI's addition: the Contact ID message each `rejected` entry's index points at, in the same order.
            let rejectedContactIDs = response.rejected.map { Int($0.index) < messages.count ? messages[Int($0.index)] : "" }
            try session.emit(response, extras: ["rejected_contact_ids": .strings(rejectedContactIDs)], text: text)
        }
    }
}
