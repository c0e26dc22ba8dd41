import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What both line handlers share: the metadata an event is logged with, and where a finished line goes.
enum LineOutput {
    /// The handler's metadata, then the provider's, then the event's (later ones win on equal keys), and `error`.
    static func metadata(
        _ handlerMetadata: Logger.Metadata, _ provider: Logger.MetadataProvider?, _ event: LogEvent
    ) -> Logger.Metadata {
        var merged = handlerMetadata
        if let provided = provider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let callMetadata = event.metadata, !callMetadata.isEmpty {
            merged.merge(callMetadata) { _, new in new }
        }
        if let error = event.error { merged["error"] = "\(error)" }
        return merged
    }

    static func write(_ line: String, to output: JSONLogHandler.Output) {
        switch output {
        case .standardOutput: JSONLogHandler.writeLine(line, to: STDOUT_FILENO)
        case .standardError: JSONLogHandler.writeLine(line, to: STDERR_FILENO)
        case .custom(let sink): sink(line)
        }
    }
}
