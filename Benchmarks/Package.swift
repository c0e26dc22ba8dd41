// swift-tools-version: 6.1
// The side-by-side benchmarks of CopsLink: a nested package, so that the main build (and CI) never builds
// grpc-swift-2, its HTTP/2 transport, swift-protobuf or package-benchmark. `scripts/bench` runs it.
import Foundation
import PackageDescription

// The main package is the parent directory; a path dependency is named after its folder.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "CopsLinkBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"])
    ],
    targets: [
        // Servers, drivers and seeders of the side-by-side run (see BENCHMARKS.md).
        .executableTarget(
            name: "copslink-bench",
            dependencies: [
                .product(name: "CopsLinkCore", package: mainPackage),
                .product(name: "CopsLinkMessages", package: mainPackage),
                .product(name: "CopsLinkTransport", package: mainPackage),
                .product(name: "CopsLinkGRPC", package: mainPackage),
                .product(name: "CopsLinkServices", package: mainPackage),
                .product(name: "CopsLinkBuiltinServices", package: mainPackage),
                .product(name: "CopsLinkAccounts", package: mainPackage),
                .product(name: "CopsLinkSQLite", package: mainPackage),
                .product(name: "CopsLinkPostgres", package: mainPackage),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CopsLinkMessageFixtures", package: mainPackage),
                "SwiftProtobufAccount"
            ],
            path: "Sources/copslink-bench",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        // CopsLink's arena as a protobuf-c allocator. (The Account both codec benchmarks use is the codec tests':
        // CopsLinkMessageFixtures, from the main package.)
        .target(
            name: "CodecFixtures",
            dependencies: [.product(name: "CopsLinkMessages", package: mainPackage)],
            path: "Sources/CodecFixtures"
        ),
        // swift-protobuf's generated code for proto/copslink/v1/account.proto (generate-swift-protobuf; committed).
        .target(
            name: "SwiftProtobufAccount",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/SwiftProtobufAccount"
        ),
        // The codec comparison without the malloc interposer (median ns/op; scripts/bench runs it).
        .executableTarget(
            name: "codec-timing",
            dependencies: [
                "SwiftProtobufAccount",
                .product(name: "CopsLinkMessages", package: mainPackage),
                .product(name: "CopsLinkMessageFixtures", package: mainPackage),
                .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ],
            path: "CodecTiming"
        ),
        // package-benchmark: CopsLink's protobuf-c codec against swift-protobuf on the Account message.
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                "SwiftProtobufAccount", "CodecFixtures",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CopsLinkMessages", package: mainPackage),
                .product(name: "CopsLinkMessageFixtures", package: mainPackage),
                .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ],
            path: "CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
