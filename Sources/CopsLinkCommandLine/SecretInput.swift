public import ArgumentParser
import Foundation

/// Secrets (API keys, passcodes) given to the command-line tools without putting them on the command line, where
/// `ps` and the shell history show them: from a file (`--token-file`, `--passcode-file`) or the environment
/// (`COPSLINK_TOKEN`, `COPSLINK_PASSCODE`).
public enum SecretInput {
    public static let passcodeEnvironmentVariable = "COPSLINK_PASSCODE"
    /// A secret file larger than this is not a secret file.
    public static let maximumFileSize = 64 << 10

    /// The option's value if given, else the file's contents, else the environment variable; nil when none is set
    /// (an empty variable counts as unset). `option` and `fileOption` name the flags in errors.
    public static func resolve(
        value: String?, file: String?, environmentVariable: String, option: String, fileOption: String
    ) throws(ValidationError) -> String? {
        if value != nil, file != nil { throw ValidationError("Give \(option) or \(fileOption), not both.") }
        if let value { return value }
        if let file { return try read(file, option: fileOption) }
        return ProcessInfo.processInfo.environment[environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The contents of `path` as UTF-8 text, trailing line breaks removed (as `echo KEY > file` writes one).
    public static func read(_ path: String, option: String) throws(ValidationError) -> String {
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw ValidationError("\(option) '\(path)' cannot be read: \(reason)")
        }
        guard data.count <= maximumFileSize else {
            throw ValidationError("\(option) '\(path)' is larger than \(maximumFileSize / 1024) KiB; it should hold one line.")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(option) '\(path)' is not UTF-8 text.")
        }
        while let last = text.unicodeScalars.last, last == "\n" || last == "\r" { text.unicodeScalars.removeLast() }
        return text
    }
}
