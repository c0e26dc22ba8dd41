import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import CopsLinkWire
import NIOCore
import Testing

/// Issue 10, class 4: decoding amplifies. A 4 MiB request made of 2-byte unknown fields cost about 150 MB while it
/// was decoded, because protobuf-c keeps every unknown field.
extension AdversarialTests {
    @Test(
        "4: 4 MiB requests of 2-byte unknown fields: keyed ones get INVALID_ARGUMENT, decoding them costs tens of MB at most; public ones RESOURCE_EXHAUSTED undecoded"
    )
    func unknownFieldFlood() async throws {
        let server = try await AttackServer.start()
        defer { server.stop() }
        let readOnly = try await server.createKey(dealer: "demo", roles: "read")

        try await server.withAttack("4-unknown-fields", growthBound: 48 * mebibyte) {
            // Field 15, varint 1: `78 01`, about two million times, filling a frame of the maximum size.
            let payload = RawBytes((0..<(4 * mebibyte - 1024)).map { $0 % 2 == 0 ? 0x78 : 0x01 })
            // Two connections at once, three requests each in turn: Health/Check needs no key, GetAccount does.
            try await withThrowingTaskGroup(of: (Bool, [EndHeader]).self) { group in
                for (method, token) in [(Health.Method.check, nil), (AccountService.Method.getAccount, readOnly)] {
                    group.addTask {
                        let peer = try await AttackPeer.handshake(port: server.port)
                        var ends: [EndHeader] = []
                        for id in UInt64(1)...3 {
                            try await peer.send(AttackFrames.request(id, method, message: payload, token: token))
                            ends.append(try await peer.end(of: id, limit: .seconds(30)))
                        }
                        await peer.close()
                        return (token == nil, ends)
                    }
                }
                // A method open without a key takes requests of at most 4 KiB (`AccessPolicy.maxPublicRequestMessageSize`).
                for try await (keyless, ends) in group {
                    for end in ends {
                        let expected = keyless ? StatusCode.resourceExhausted : .invalidArgument
                        #expect(end.statusCode == expected.rawValue, "\(end)")
                        #expect(end.statusMessage.utf8.count <= 256, "a short status message: \(end.statusMessage.prefix(300))")
                    }
                }
            }
        }
    }
}
