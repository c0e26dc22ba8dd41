// copslink-generate <descriptor set> <services directory> <messages directory>
//
// Reads the FileDescriptorSet that `protoc --descriptor_set_out --include_source_info` wrote for proto/ and writes
// into the (existing, empty) directories:
//   services directory: <Service>.swift for every service, ServiceCatalog+Services.swift and
//     ReflectionCatalog+Files.swift (gRPC server reflection's file descriptors);
//   messages directory: MessageCatalog+Entries.swift and ProtoSchema+Messages.swift (proto3 JSON's tables).
// scripts/generate runs it; see there.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func readFile(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else { throw ProtobufReader.MalformedInput(description: "cannot open \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes += chunk[..<count]
    }
    return bytes
}

func writeFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "wb") else { throw ProtobufReader.MalformedInput(description: "cannot write \(path)") }
    defer { fclose(file) }
    let bytes = Array(text.utf8)
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count else {
        throw ProtobufReader.MalformedInput(description: "short write to \(path)")
    }
}

/// Writes to standard error (file descriptor 2: no shared `FILE *`) and exits.
func fail(_ message: String, status: Int32) -> Never {
    let bytes = Array((message + "\n").utf8)
    _ = write(2, bytes, bytes.count)
    exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    fail("usage: copslink-generate <descriptor set> <services directory> <messages directory>", status: 2)
}
do {
    let set = try readFile(arguments[1])
    let files = try DescriptorSet.decode(set)
    for file in files {
        for service in file.services {
            try writeFile("\(arguments[2])/\(service.name).swift", ServiceEmitter(service: service, file: file, files: files).emit())
        }
    }
    try writeFile("\(arguments[2])/ServiceCatalog+Services.swift", CatalogEmitter.services(files))
    let rawFiles = try ProtobufReader.fields(of: set[...]).filter { $0.number == 1 }.map(\.bytes)
    try writeFile("\(arguments[2])/ReflectionCatalog+Files.swift", try ReflectionEmitter.emit(files, rawFiles: rawFiles))
    try writeFile("\(arguments[3])/MessageCatalog+Entries.swift", CatalogEmitter.messages(files))
    try writeFile("\(arguments[3])/ProtoSchema+Messages.swift", SchemaEmitter.emit(files))
} catch {
    fail("copslink-generate: \(error)", status: 1)
}
