public import CopsLinkCore
import CopsLinkMessages

/// What gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) answers with: the FileDescriptorProtos of
/// proto/, as `scripts/generate` takes them from the committed descriptor set (`ReflectionCatalog+Files.swift`), so
/// generic tools (grpcurl, grpcui, Postman, grpcio's reflection client) can list and call every method.
public enum ReflectionCatalog {
    /// The reflection method, in both versions of the service (the messages are the same).
    public static let methodPaths: [String] = [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    ]

    /// Services a CopsLink server answers besides those of proto/ (their descriptors are not served).
    public static let otherServices = [
        "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"
    ]

    /// One .proto file.
    public struct File: Sendable {
        /// Its path under proto/, e.g. `copslink/v1/account.proto`.
        public let name: String
        /// The files it imports.
        public let dependencies: [String]
        /// Fully-qualified names it defines: services, methods (`Service.Method`), messages, enums.
        public let symbols: [String]
        /// The serialized FileDescriptorProto.
        public let descriptor: [UInt8]

        init(name: String, dependencies: [String], symbols: [String], descriptorBase64: String) {
            self.name = name
            self.dependencies = dependencies
            self.symbols = symbols
            // Generated from protoc's output: always valid base64 (a test decodes every file).
            descriptor = Base64.decode(descriptorBase64) ?? []
        }
    }

    /// The file at `name`.
    public static func file(named name: String) -> File? { files.first { $0.name == name } }

    /// The file that defines `symbol` (a service, method, message or enum; a leading dot is ignored).
    public static func file(containingSymbol symbol: String) -> File? {
        let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
        return files.first { $0.symbols.contains(name) }
    }

    /// `file` and every file it imports, directly or not, `file` first: what a reflection client needs to build it.
    public static func withDependencies(_ file: File) -> [File] {
        var result = [file]
        var seen: Set<String> = [file.name]
        var index = 0
        while index < result.count {
            for dependency in result[index].dependencies where !seen.contains(dependency) {
                seen.insert(dependency)
                if let found = self.file(named: dependency) { result.append(found) }
            }
            index += 1
        }
        return result
    }
}
