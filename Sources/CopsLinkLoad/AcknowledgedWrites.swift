public import CopsLinkCore
import CopsLinkMessages
import CopsLinkServices
import Synchronization

/// `copslink-load --record FILE`: every PlaceOnTest and PlaceOffTest the server acknowledged, one JSON line each
/// (`{"method":"PlaceOnTest","customer":"…","session":"…"}`), for checks that every acknowledged write survived a
/// crash or a failover. Kept in memory until the run ends (about 100 bytes a write), so meant for test runs.
public final class AcknowledgedWrites: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    /// Records the acknowledged response of a write call; other methods are ignored.
    func record(_ descriptor: MethodDescriptor, request: any RPCMessage, response: RawUnaryResponse) {
        let method: String
        let customer: String
        let session: String?
        switch descriptor {
        case AccountService.Method.placeOnTest:
            guard let decoded = try? PlaceOnTestResponse(from: response.message) else { return }
            method = "PlaceOnTest"
            customer = (request as? PlaceOnTestRequest)?.customerID ?? ""
            session = decoded.session?.id
        case AccountService.Method.placeOffTest:
            guard let decoded = try? PlaceOffTestResponse(from: response.message) else { return }
            method = "PlaceOffTest"
            customer = (request as? PlaceOffTestRequest)?.customerID ?? ""
            session = decoded.session?.id
        default:
            return
        }
        var writer = JSONWriter()
        writer.raw("{\"method\":")
        writer.string(method)
        if !customer.isEmpty {
            writer.raw(",\"customer\":")
            writer.string(customer)
        }
        writer.raw(",\"session\":")
        writer.string(session ?? "")
        writer.raw("}")
        let line = String(decoding: writer.bytes, as: UTF8.self)
        lines.withLock { $0.append(line) }
    }

    /// The lines so far, each ending in a newline.
    public var text: String { lines.withLock { $0.map { $0 + "\n" }.joined() } }
}
