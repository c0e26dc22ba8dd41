import CopsLinkCore
import Testing

@Suite struct TraceContextTests {
    @Test func parsesAValidTraceparent() throws {
        let trace = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.parentID == "00f067aa0ba902b7")
        #expect(trace.isSampled)
        #expect(trace.description == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    }

    @Test(arguments: [
        "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01"
    ])
    func rejectsMalformedTraceparents(_ value: String) {
        #expect(TraceContext(traceparent: value) == nil)
    }

    @Test func travelsThroughCallOptionsToTheServerContext() throws {
        var options = CallOptions()
        options.propagate(
            try #require(
                TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", traceState: "congo=t61rcWkgMzE")))
        let context = ServerContext(
            descriptor: MethodDescriptor(service: "s", method: "m"), metadata: options.effectiveMetadata, deadline: nil, peer: "p",
            callID: 1)
        #expect(context.traceContext?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.traceContext?.traceState == "congo=t61rcWkgMzE")
        #expect(context.traceContext?.isSampled == false)
    }
}
