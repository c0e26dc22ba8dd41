public import Foundation

/// The package root, found by walking up from this file to Package.swift.
public let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url
}()

/// A built executable from `.build/debug` (`swift build --build-tests` builds them all).
public func builtBinary(_ name: String) throws -> URL {
    let url = packageRoot.appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: url.path) else { throw TestSupportError.missingBinary(url.path) }
    return url
}

public enum TestSupportError: Error, CustomStringConvertible {
    case missingBinary(String)
    case noListeningLine(String)
    case commandFailed(String)

    public var description: String {
        switch self {
        case .missingBinary(let path): "\(path) is not built; run `swift build --build-tests` first"
        case .noListeningLine(let output): "copslink-server did not print 'listening on': \(output)"
        case .commandFailed(let message): message
        }
    }
}

/// A fresh file path in the temporary directory; `removeDatabase` deletes it with its WAL files.
public func temporaryDatabasePath(_ prefix: String = "copslink-test") -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString).sqlite").path
}

public func removeDatabase(at path: String) {
    for suffix in ["", "-wal", "-shm", ".demo-key"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}
