"""gRPC interop checks against a running copslink-server --demo: grpcio as the real peer (scripts/grpc-interop/run)."""

import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from copslink.v1 import account_pb2, account_service_pb2, account_service_pb2_grpc

target, key = sys.argv[1], sys.argv[2]
from checks import check, finish


channel = grpc.insecure_channel(target)
grpc.channel_ready_future(channel).result(timeout=10)
accounts = account_service_pb2_grpc.AccountServiceStub(channel)
auth = (("authorization", f"Bearer {key}"),)

# Unary, with the key, and request metadata with a -bin key beside it.
account = accounts.GetAccount(
    account_service_pb2.GetAccountRequest(customer_id="demo-1"),
    metadata=auth + (("x-trace-bin", b"\x00\xff\x01"),),
    timeout=10,
)
check("GetAccount answers demo-1", account.account_number == "22-8761", repr(account.account_number))

# Without a key: UNAUTHENTICATED as a grpcio RpcError code, the message percent-decoded.
try:
    accounts.GetAccount(account_service_pb2.GetAccountRequest(customer_id="demo-1"), timeout=10)
    check("GetAccount without a key fails", False)
except grpc.RpcError as error:
    check("no key: UNAUTHENTICATED", error.code() == grpc.StatusCode.UNAUTHENTICATED, str(error.code()))
    check("no key: the server's message", "API key" in error.details(), error.details())

# An error status from the handler: NOT_FOUND.
try:
    accounts.GetAccount(account_service_pb2.GetAccountRequest(customer_id="no-such-customer-é"), metadata=auth, timeout=10)
    check("GetAccount of an unknown customer fails", False)
except grpc.RpcError as error:
    check("unknown customer: NOT_FOUND", error.code() == grpc.StatusCode.NOT_FOUND, f"{error.code()} {error.details()}")

# Server streaming: the last 30 days of demo-3's signal history, in small pages.
now_ms = int(time.time() * 1000)
month_ago_ms = now_ms - 30 * 86_400_000
pages = list(
    accounts.RequestTestData(
        account_service_pb2.RequestTestDataRequest(
            customer_id="demo-3",
            type=account_service_pb2.TEST_DATA_TYPE_SIGNALS,
            from_ms=month_ago_ms,
            to_ms=now_ms - 1000,
            page_size=2,
        ),
        metadata=auth,
        timeout=30,
    )
)
rows = sum(len(page.signals) for page in pages)
check("RequestTestData streams several pages", len(pages) > 1 and rows > 2, f"{len(pages)} pages, {rows} rows")

# Client streaming: three signals for demo-1's account.


def signals():
    for index in range(3):
        yield account_pb2.Signal(
            receiver_number="2",
            line="1",
            account_number="22-8761",
            received_at_ms=now_ms + index,
            contact_id="8761 18 1 602 00 001",
            event_code="602",
            partition=0,
            zone_or_user="001",
        )


report = accounts.ReportSignals(signals(), metadata=auth, timeout=30)
check("ReportSignals counts the streamed signals", report.received == 3, str(report))

# A deadline: grpc-timeout reaches the server; an already-tiny one ends as DEADLINE_EXCEEDED.
try:
    list(
        accounts.RequestTestData(
            account_service_pb2.RequestTestDataRequest(
                customer_id="demo-3", type=account_service_pb2.TEST_DATA_TYPE_SIGNALS, from_ms=month_ago_ms, to_ms=now_ms - 1000, page_size=1
            ),
            metadata=auth,
            timeout=0.001,
        )
    )
    check("a 1 ms deadline ends the stream", False)
except grpc.RpcError as error:
    check("deadline: DEADLINE_EXCEEDED", error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, str(error.code()))

# Cancellation: a server stream cancelled after its first page (RST_STREAM); the connection goes on serving.
stream = accounts.RequestTestData(
    account_service_pb2.RequestTestDataRequest(
        customer_id="demo-3", type=account_service_pb2.TEST_DATA_TYPE_SIGNALS, from_ms=month_ago_ms, to_ms=now_ms - 1000, page_size=1
    ),
    metadata=auth,
    timeout=30,
)
next(stream)
stream.cancel()
check("cancelled stream reports CANCELLED", stream.code() == grpc.StatusCode.CANCELLED, str(stream.code()))
again = accounts.GetAccount(account_service_pb2.GetAccountRequest(customer_id="demo-2"), metadata=auth, timeout=10)
check("the connection serves after a cancel", again.account_number == "22-8762")

# The standard health check.
health = health_pb2_grpc.HealthStub(channel)
status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
check("grpc.health.v1 Check: SERVING", status.status == health_pb2.HealthCheckResponse.SERVING, str(status))

watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
first = next(watch)
watch.cancel()
check("grpc.health.v1 Watch: SERVING first", first.status == health_pb2.HealthCheckResponse.SERVING, str(first))

# An unknown method: UNIMPLEMENTED.
unknown = channel.unary_unary("/copslink.v1.AccountService/NoSuchMethod")
try:
    unknown(b"", timeout=10)
    check("an unknown method fails", False)
except grpc.RpcError as error:
    check("unknown method: UNIMPLEMENTED", error.code() == grpc.StatusCode.UNIMPLEMENTED, str(error.code()))

# Server reflection: grpcio-reflection's descriptor database (v1alpha) lists the services and builds
# AccountService from the served files; a v1 call (its messages are v1alpha's, byte for byte) asks for a file by name.
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_reflection.v1alpha import reflection_pb2 as reflection_messages

database = ProtoReflectionDescriptorDatabase(channel)
services = set(database.get_services())
check(
    "reflection lists AccountService and grpc.health.v1.Health",
    {"copslink.v1.AccountService", "grpc.health.v1.Health"} <= services,
    str(sorted(services)),
)
pool = DescriptorPool(database)
service = pool.FindServiceByName("copslink.v1.AccountService")
check("reflection describes AccountService.GetAccount", "GetAccount" in service.methods_by_name, str(list(service.methods_by_name)))
check(
    "reflection resolves GetAccount's response type",
    service.methods_by_name["GetAccount"].output_type.full_name == "copslink.v1.Account",
    service.methods_by_name["GetAccount"].output_type.full_name,
)
reflection_v1 = channel.stream_stream(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    request_serializer=reflection_messages.ServerReflectionRequest.SerializeToString,
    response_deserializer=reflection_messages.ServerReflectionResponse.FromString,
)
answers = list(
    reflection_v1(
        iter(
            [
                reflection_messages.ServerReflectionRequest(file_by_filename="copslink/v1/account.proto"),
                reflection_messages.ServerReflectionRequest(file_containing_symbol="copslink.v1.NoSuchThing"),
            ]
        ),
        timeout=10,
    )
)
check(
    "reflection v1 file_by_filename",
    len(answers) == 2 and len(answers[0].file_descriptor_response.file_descriptor_proto) == 1,
    str(answers[:1])[:200],
)
check(
    "reflection v1 unknown symbol: NOT_FOUND",
    len(answers) == 2 and answers[1].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0],
    str(answers[1:])[:200],
)

channel.close()
finish("grpc-interop")
