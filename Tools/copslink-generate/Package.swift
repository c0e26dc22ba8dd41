// swift-tools-version: 6.1
// The project's own code generator: reads the FileDescriptorSet protoc writes for proto/ and writes the
// generated-style Swift service code and the message and method catalogs. Run by `scripts/generate`.
// No package dependencies, so that `scripts/generate --check` (run by scripts/test and CI) builds it in seconds;
// the FileDescriptorSet is decoded by hand (ProtobufReader.swift).
import PackageDescription

let package = Package(
    name: "copslink-generate",
    targets: [
        .executableTarget(name: "copslink-generate", swiftSettings: [.enableUpcomingFeature("ExistentialAny")])
    ],
    swiftLanguageModes: [.v6]
)
