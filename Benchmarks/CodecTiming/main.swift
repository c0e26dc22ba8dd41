// The codec comparison without package-benchmark's malloc interposer (which preloads into the benchmark process and
// adds to every allocation): median ns/op over batches of 1,000, on the Account of CodecBenchmarks. A target of its
// own so that it builds without grpc (copslink-bench's build takes a quarter of an hour).
//
//   swift run -c release --package-path Benchmarks --scratch-path Benchmarks/.build codec-timing [batches]
import CopsLinkMessageFixtures
import CopsLinkMessages
import SwiftProtobuf
import SwiftProtobufAccount

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

func nowNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

@inline(never)
func consume<T>(_ value: T) { withExtendedLifetime(value) {} }

let batches = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 300 : 300

func median(_ body: () -> Void) -> Double {
    var samples: [Double] = []
    for _ in 0..<20 { body() }
    for _ in 0..<batches {
        let start = nowNanos()
        for _ in 0..<1000 { body() }
        samples.append(Double(nowNanos() - start) / 1000)
    }
    samples.sort()
    return samples[samples.count / 2]
}

let account = MessageFixtures.account
let bytes = account.serializedBytes()
let message = try Copslink_V1_Account(serializedBytes: bytes)
let rows: [(String, Double)] = [
    ("Account encode: CopsLink (protobuf-c)", median { consume(account.serializedBytes()) }),
    ("Account encode: swift-protobuf", median { consume(try! message.serializedBytes() as [UInt8]) }),
    ("Account decode: CopsLink (protobuf-c, arena)", median { bytes.withUnsafeBytes { consume(try! Account(serializedBytes: $0)) } }),
    ("Account decode: swift-protobuf", median { consume(try! Copslink_V1_Account(serializedBytes: bytes)) })
]
for (name, ns) in rows { print("\(name): \(Int(ns)) ns") }
let ratio = (rows[1].1 + rows[3].1) / (rows[0].1 + rows[2].1)
print("encode + decode, swift-protobuf ÷ CopsLink: \((ratio * 100).rounded() / 100)×")
