import Benchmark
import CProtobufC
import CodecFixtures
import CopsLinkMessageFixtures
import CopsLinkMessages
import SwiftProtobuf
import SwiftProtobufAccount

// CopsLink's protobuf-c codec against swift-protobuf's generated code, on the same fully populated Account
// (the account of Tests/CopsLinkMessagesTests/Vectors/account_full.bin, 869 bytes).
//
//   swift package --package-path Benchmarks --scratch-path Benchmarks/.build benchmark
//
// Every benchmark runs 1,000 operations per sample (scalingFactor .kilo); package-benchmark prints per-operation
// values (the metrics marked *).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 5,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 2_000)

    let account = MessageFixtures.account
    let bytes = account.serializedBytes()
    let message = try! Copslink_V1_Account(serializedBytes: bytes)
    precondition(try! message.serializedBytes() as [UInt8] == bytes, "swift-protobuf and protobuf-c encode differently")
    precondition(try! bytes.withUnsafeBytes { try Account(serializedBytes: $0) } == account, "CopsLink round trip failed")

    Benchmark("Account encode: CopsLink (protobuf-c)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(account.serializedBytes())
        }
    }
    Benchmark("Account encode: swift-protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! message.serializedBytes() as [UInt8])
        }
    }
    Benchmark("Account decode: CopsLink (protobuf-c, arena)") { benchmark in
        bytes.withUnsafeBytes { buffer in
            for _ in benchmark.scaledIterations {
                blackHole(try! Account(serializedBytes: buffer))
            }
        }
    }
    Benchmark("Account decode: swift-protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! Copslink_V1_Account(serializedBytes: bytes))
        }
    }
    // The C step of encoding alone: protobuf-c sizing and packing C structs that were built once, i.e. the floor of
    // any codec over protobuf-c (its pack sizes every sub-message again for the length prefix, once per nesting level).
    Benchmark("protobuf-c get_packed_size + pack") { benchmark in
        ProtobufArena.with { arena in
            let message = UnsafeMutableRawPointer(account.makeCMessage(in: &arena)).assumingMemoryBound(to: ProtobufCMessage.self)
            var output = [UInt8](repeating: 0, count: bytes.count)
            output.withUnsafeMutableBufferPointer { output in
                for _ in benchmark.scaledIterations {
                    precondition(protobuf_c_message_get_packed_size(message) == bytes.count)
                    blackHole(protobuf_c_message_pack(message, output.baseAddress!))
                }
            }
        }
    }
    // The C step of decoding alone: protobuf_c_message_unpack with protobuf-c's default allocator (a malloc per
    // string and sub-message, freed with free_unpacked) against CopsLink's arena (ProtobufArena, as the codec uses it).
    Benchmark("protobuf-c unpack: default allocator (naive)") { benchmark in
        bytes.withUnsafeBufferPointer { buffer in
            for _ in benchmark.scaledIterations {
                let unpacked = protobuf_c_message_unpack(Account.cDescriptor.pointer, nil, buffer.count, buffer.baseAddress)
                blackHole(unpacked)
                protobuf_c_message_free_unpacked(unpacked, nil)
            }
        }
    }
    Benchmark("protobuf-c unpack: arena allocator") { benchmark in
        bytes.withUnsafeBufferPointer { buffer in
            for _ in benchmark.scaledIterations {
                ProtobufArena.with { arena in
                    CodecFixture.withAllocator(&arena) { allocator in
                        blackHole(protobuf_c_message_unpack(Account.cDescriptor.pointer, allocator, buffer.count, buffer.baseAddress))
                    }
                }
            }
        }
    }
}
