import CCopsLinkProtos
import CProtobufC
import CopsLinkAccounts
import CopsLinkBuiltinServices
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import Foundation
import Testing

/// The catalogs scripts/generate writes from proto/ (ServiceCatalog, MessageCatalog), checked against what reads
/// proto/ independently (protoc-c's descriptors) and against what the implementations register: a generator bug
/// or a wrong entry in its Swift-name table fails here, not in a client.
@Suite struct GeneratedCatalogTests {
    /// protoc-c's service descriptors: one per service of proto/.
    static var cServices: [ProtobufCServiceDescriptor] {
        [
            copslink__rpc__v1__health__descriptor, copslink__rpc__v1__server_info__descriptor,
            copslink__rpc__v1__test_service__descriptor, copslink__v1__account_service__descriptor
        ]
    }

    @Test func servicesAndMethodsMatchProtocC() {
        #expect(ServiceCatalog.services.map(\.name) == Self.cServices.map { String(cString: $0.name) })
        for cService in Self.cServices {
            let name = String(cString: cService.name)
            let cMethods = UnsafeBufferPointer(start: cService.methods, count: Int(cService.n_methods)).map {
                "\(String(cString: $0.name))(\(String(cString: $0.input.pointee.name))) -> \(String(cString: $0.output.pointee.name))"
            }
            let methods = ServiceCatalog.services.first { $0.name == name }?.methods.map {
                "\($0.descriptor.method)(\($0.requestType.protoName)) -> \($0.responseType.protoName)"
            }
            #expect(methods == cMethods, "\(name)")
        }
    }

    /// Every method is served, with the kind and the message types the catalog gives it (ServerInfo's `register` is
    /// hand-written; the others come from the generated `registerMethods`).
    @Test func theBuiltInServersRegisterWhatTheCatalogDeclares() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("copslink-catalog-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var router = RPCRouter()
        AccountServiceImplementation(store: try SQLiteAccountStore(path: path)).registerMethods(with: &router)
        ConformanceService().registerMethods(with: &router)
        HealthService(services: []).registerMethods(with: &router)
        ServerInfo.register(into: &router, serverVersion: "test", protocolVersions: [1], limits: nil)

        #expect(router.methods.map(\.descriptor.path).sorted() == ServiceCatalog.methods.map(\.descriptor.path).sorted())
        for method in ServiceCatalog.methods {
            let route = router.route(forPath: method.descriptor.path)
            #expect(route?.kind == method.kind, "\(method.descriptor)")
            #expect(route?.requestType == method.requestType.protoName, "\(method.descriptor)")
            #expect(route?.responseType == method.responseType.protoName, "\(method.descriptor)")
        }
    }

    /// Each entry's Swift type is the message it names, down to the protobuf-c descriptor its codec uses.
    @Test func everyMessageEntryIsItsSwiftType() {
        #expect(Set(MessageCatalog.entries.map(\.protoName)).count == MessageCatalog.entries.count)
        for entry in MessageCatalog.entries {
            guard let type = entry.swiftType else { continue }
            #expect(type.protoName == entry.protoName)
            #expect(String(cString: type.cDescriptor.pointer.pointee.name) == entry.protoName)
        }
    }

    @Test func everyRequestAndResponseHasASwiftTypeInTheMessageCatalog() {
        let types = Set(MessageCatalog.types.map { $0.protoName })
        for method in ServiceCatalog.methods {
            #expect(types.contains(method.requestType.protoName), "\(method.descriptor)")
            #expect(types.contains(method.responseType.protoName), "\(method.descriptor)")
        }
    }
}
