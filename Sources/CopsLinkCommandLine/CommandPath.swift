public import ArgumentParser
import CopsLinkCore

/// Subcommand names checked before ArgumentParser sees them, so that a word that names no command is a usage error
/// (exit 64) that lists the commands there are.
///
/// ArgumentParser shows the nearest command's help for `help bogus` and exits 0 (swift-argument-parser 1.8.2), so a
/// script that asks for help on a command that does not exist learns nothing from the exit status.
public enum CommandPath {
    /// The usage error for `help NAME…` (`arguments` starting at `help`) when a name is not a subcommand of the one
    /// before it, starting from `node` reached through `path` below `root`; nil when every name is one.
    public static func unknownHelpTopic(
        _ arguments: ArraySlice<String>, node: any ParsableCommand.Type, path: [String], root: any ParsableCommand.Type
    ) -> ValidationError? {
        guard arguments.first == "help" else { return nil }
        var node = node
        var path = path
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            guard let child = node.configuration.subcommands.first(where: { $0._commandName == name }) else {
                return notACommand(name, of: node, path: path, root: root)
            }
            path.append(name)
            node = child
        }
        return nil
    }

    /// The usage error for `word` standing where one of `node`'s subcommands belongs (`node` reached through `path`).
    public static func notACommand(
        _ word: String, of node: any ParsableCommand.Type, path: [String], root: any ParsableCommand.Type
    ) -> ValidationError {
        let command = ([root._commandName] + path).joined(separator: " ")
        guard !node.configuration.subcommands.isEmpty else {
            return ValidationError("'\(ClientText.excerpt(word))': \(command) has no subcommands.")
        }
        let known = node.configuration.subcommands.map { $0._commandName }.joined(separator: ", ")
        return ValidationError("'\(ClientText.excerpt(word))' is not a command of \(command); choose \(known).")
    }
}
