import CopsLinkCore
import Testing

@Suite struct MethodDescriptorTests {
    @Test(arguments: [
        ("/copslink.v1.AccountService/GetAccount", "copslink.v1.AccountService", "GetAccount"),
        ("/a.B/C", "a.B", "C"),
        ("/Service/Method", "Service", "Method"),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.Health", "Check")
    ])
    func validPathsParse(_ path: String, _ service: String, _ method: String) throws {
        let descriptor = try #require(MethodDescriptor(path: path))
        #expect(descriptor.service == service)
        #expect(descriptor.method == method)
        #expect(descriptor.path == path)
        #expect(descriptor.description == path)
        #expect(descriptor == MethodDescriptor(service: service, method: method))
    }

    @Test(arguments: [
        "", "/", "//", "///", "a.B/C", "/a.B", "/a.B/", "//C", "/a.B/C/", "/a.B/C/D", "a.B/C/", " /a.B/C",
        "/a.B//C", "\\a.B\\C"
    ])
    func invalidPathsAreRejected(_ path: String) {
        #expect(MethodDescriptor(path: path) == nil)
    }

    @Test func pathIsBuiltFromParts() {
        let descriptor = MethodDescriptor(service: "pkg.Svc", method: "Do")
        #expect(descriptor.path == "/pkg.Svc/Do")
        #expect(MethodDescriptor(path: descriptor.path) == descriptor)
    }
}
