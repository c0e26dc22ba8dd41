// swift-tools-version: 6.1
// The libFuzzer targets of CopsLink: a nested package, so that the main build never carries the sanitizer flags
// or NIOEmbedded. `scripts/fuzz [seconds]` builds it with `--sanitize=fuzzer --sanitize=address` and runs every
// target on a copy of its seed corpus (Corpus/<target>/). See FUZZING.md.
import Foundation
import PackageDescription

// The main package is the parent directory; a path dependency is named after its folder.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "CopsLinkFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2")
    ],
    targets: [
        // What both targets share: stopping on a broken invariant, and the corpus mode.
        .target(name: "FuzzSupport"),
        // Bytes in through a whole server connection (frame decoder, connection handler, calls, TestService and
        // Health handlers) on an NIOAsyncTestingChannel: no crash, no leak, bounded memory, well-formed output.
        .executableTarget(
            name: "fuzz-connection",
            dependencies: [
                .product(name: "CopsLinkCore", package: mainPackage),
                .product(name: "CopsLinkMessages", package: mainPackage),
                .product(name: "CopsLinkWire", package: mainPackage),
                .product(name: "CopsLinkTransport", package: mainPackage),
                .product(name: "CopsLinkServices", package: mainPackage),
                .product(name: "CopsLinkBuiltinServices", package: mainPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                "FuzzSupport"
            ]
        ),
        // Every message codec over protobuf-c: decode, re-encode, decode again, compare.
        .executableTarget(
            name: "fuzz-codecs",
            dependencies: [
                .product(name: "CopsLinkCore", package: mainPackage),
                .product(name: "CopsLinkMessages", package: mainPackage),
                "FuzzSupport"
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
