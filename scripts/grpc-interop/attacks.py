"""Hostile peers on the shared port (scripts/grpc-interop/run): raw HTTP/2 frames (hyperframe, hpack) and raw HTTP/1.1
bytes against a real copslink-server started with --handshake-timeout 2 and --max-public-calls 50. Each check is a
bound of PROTOCOL.md §12, §18.4 or §19.3 that a well-behaved client never meets; the server's resident memory is read
from /proc before and after the attacks that used to grow it.

    attacks.py HOST:PORT KEY SERVER_PID
"""

import http.client
import json
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import hyperframe.frame as hf

from checks import check, finish

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
key = sys.argv[2]
server_pid = int(sys.argv[3])
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def rss_kib():
    with open(f"/proc/{server_pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect():
    sock = socket.create_connection((host, port))
    sock.settimeout(10)
    return sock


def read_frames(sock, seconds, until=None):
    """The frames the server sends within `seconds`, until it closes or `until(frames)` holds: [frame], and whether it
    closed. A check that waits for an answer passes `until` and a deadline long enough for a loaded machine; a check
    that a server sends nothing more has to wait out its window."""
    data, frames, closed = b"", [], False
    end = time.time() + seconds
    while time.time() < end:
        sock.settimeout(max(0.05, end - time.time()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        while len(data) >= 9:
            length = int.from_bytes(data[:3], "big")
            if len(data) < 9 + length:
                break
            frame, _ = hf.Frame.parse_frame_header(memoryview(data[:9]))
            frame.parse_body(memoryview(data[9:9 + length]))
            frames.append(frame)
            data = data[9 + length:]
        if until and until(frames):
            break
    return frames, closed


def ended(count):
    """For read_frames' `until`: `count` streams have ended (HEADERS with END_STREAM, trailers-only or trailers)."""
    return lambda frames: sum(1 for f in frames if isinstance(f, hf.HeadersFrame) and "END_STREAM" in f.flags) >= count


def read_until_trailers(socks, wanted, seconds):
    """Reads every socket in turn until `wanted(trailers)` holds for the trailers of all of them together, or `seconds`
    pass; the frames of each socket are decoded together (one HPACK decoder per connection)."""
    frames = [[] for _ in socks]
    end = time.time() + seconds
    while True:
        for index, sock in enumerate(socks):
            frames[index] += read_frames(sock, 0.2)[0]
        found = [entry for each in frames for entry in trailers(each)]
        if wanted(found) or time.time() > end:
            return found


def goaways(frames):
    return [(f.error_code, bytes(f.additional_data)) for f in frames if isinstance(f, hf.GoAwayFrame)]


def call_frames(encoder, stream_id, path, body, token=None):
    headers = hf.HeadersFrame(stream_id)
    headers.flags.add("END_HEADERS")
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "x"),
              ("content-type", "application/grpc"), ("te", "trailers")]
    if token:
        fields.append(("authorization", f"Bearer {token}"))
    headers.data = encoder.encode(fields)
    data = hf.DataFrame(stream_id)
    data.data = b"\x00" + struct.pack(">I", len(body)) + body
    data.flags.add("END_STREAM")
    return headers.serialize() + data.serialize()


# 1. Half a preface: the handshake timeout (2 s here) ends the connection, GOAWAY PROTOCOL_ERROR once gRPC is chosen.
sock = connect()
sock.sendall(PREFACE)
started = time.time()
frames, closed = read_frames(sock, 6)
check("HTTP/2 magic without SETTINGS: GOAWAY PROTOCOL_ERROR at the handshake timeout, then closed",
      closed and (1, b"no HTTP/2 SETTINGS within 2s") in goaways(frames) and time.time() - started < 5,
      f"{goaways(frames)} closed={closed} after {time.time() - started:.1f}s")
sock.close()

# 2. A PING flood: the 6th early PING ends the connection with ENHANCE_YOUR_CALM too_many_pings.
sock = connect()
out = PREFACE + hf.SettingsFrame(0).serialize()
for index in range(20):
    ping = hf.PingFrame(0)
    ping.opaque_data = struct.pack(">Q", index)
    out += ping.serialize()
sock.sendall(out)
frames, closed = read_frames(sock, 5)
check("a PING flood: GOAWAY ENHANCE_YOUR_CALM too_many_pings, then closed",
      closed and (11, b"too_many_pings") in goaways(frames), f"{goaways(frames)} closed={closed}")
sock.close()

# 3. Streams past MAX_CONCURRENT_STREAMS from a client that reads nothing: a connection error, and the connection
# closes at once instead of keeping every byte the client goes on sending.
before = rss_kib()
sock = connect()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
encoder = hpack.Encoder()
sock.sendall(PREFACE + hf.SettingsFrame(0).serialize())
sent, stream_id, reset = 0, 1, False
started = time.time()
while time.time() - started < 5:
    batch = b"".join(call_frames(encoder, stream_id + 2 * i, "/copslink.v1.AccountService/GetAccount", b"\x0a\x06demo-1", key)
                     for i in range(200))
    try:
        sock.sendall(batch)
    except (ConnectionResetError, BrokenPipeError):
        reset = True
        break
    stream_id += 400
    sent += 200
sock.close()
time.sleep(0.5)
check("calls past the stream limit without reading: the connection is closed, the server does not grow",
      reset and rss_kib() - before < 20_000, f"reset={reset} after {sent} calls, RSS {before} -> {rss_kib()} KiB")

# 4. More health Watch streams than --max-public-calls (50 here), without a key: the rest are RESOURCE_EXHAUSTED,
# and a health Check still answers.
sock = connect()
encoder = hpack.Encoder()
out = PREFACE + hf.SettingsFrame(0).serialize()
for index in range(80):
    out += call_frames(encoder, 1 + 2 * index, "/grpc.health.v1.Health/Watch", b"")
sock.sendall(out)
frames, closed = read_frames(sock, 15, until=ended(30))
decoder = hpack.Decoder()
statuses = []
for frame in frames:
    if isinstance(frame, hf.HeadersFrame):
        statuses += [value for name, value in decoder.decode(frame.data) if name == "grpc-status"]
check("80 health watches without a key: 30 over the limit of 50 are RESOURCE_EXHAUSTED",
      statuses.count("8") == 30, f"grpc-status values {sorted(statuses)}")
probe = connect()
encoder = hpack.Encoder()
probe.sendall(PREFACE + hf.SettingsFrame(0).serialize() + call_frames(encoder, 1, "/grpc.health.v1.Health/Check", b""))
probe_frames, _ = read_frames(probe, 15, until=ended(1))
probe_decoder = hpack.Decoder()
probe_statuses = [value for frame in probe_frames if isinstance(frame, hf.HeadersFrame)
                  for name, value in probe_decoder.decode(frame.data) if name == "grpc-status"]
check("a health Check while the watches fill the limit: OK", probe_statuses == ["0"], str(probe_statuses))
probe.close()
sock.close()

# 5. HTTP/1.1 requests pipelined without reading any answer: the server stops reading and does not grow.
before = rss_kib()
sock = connect()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
body = b'{"customerId":"demo-1"}'
request = (b"POST /copslink.v1.AccountService/GetAccount HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
sock.settimeout(3)
sent, stopped = 0, False
started = time.time()
while time.time() - started < 8:
    try:
        sock.sendall(request * 100)
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        stopped = True
        break
    sent += 100
grown = rss_kib() - before
sock.close()
check("HTTP/1.1 requests pipelined without reading: the server stops reading them and does not grow",
      stopped and grown < 20_000, f"stopped={stopped} after {sent} requests, RSS grew {grown} KiB")

# 6. Clients that close their side (FIN) and keep the socket: the server closes too, at once, instead of holding the
# connection in CLOSE-WAIT until a timeout (gRPC: idle 300 s; half an HTTP/1.1 head: 30 s).
def closed_after_fin(first_bytes):
    sock = connect()
    sock.sendall(first_bytes)
    time.sleep(0.2)
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(3)
    started = time.time()
    try:
        while sock.recv(65536):
            pass
        closed = True
    except (socket.timeout, ConnectionResetError):
        closed = False
    sock.close()
    return closed, time.time() - started


closed, took = closed_after_fin(PREFACE + hf.SettingsFrame(0).serialize())
check("gRPC: the client's FIN closes the connection", closed and took < 2, f"closed={closed} after {took:.1f}s")
closed, took = closed_after_fin(b"POST /copslink.v1.AccountService/GetAccount HTTP/1.1\r\nHost: x\r\n")
check("HTTP/1.1: a FIN after half a request closes the connection", closed and took < 2, f"closed={closed} after {took:.1f}s")


def trailers(frames):
    decoder = hpack.Decoder()
    found = []
    for frame in frames:
        if isinstance(frame, hf.HeadersFrame):
            fields = dict(decoder.decode(frame.data))
            if "grpc-status" in fields:
                found.append((frame.stream_id, fields["grpc-status"], fields.get("grpc-message", "")))
    return found


def headers_only(encoder, stream_id, path, extra=(), token=None):
    headers = hf.HeadersFrame(stream_id)
    headers.flags.add("END_HEADERS")
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "x"),
              ("content-type", "application/grpc"), ("te", "trailers")] + list(extra)
    if token:
        fields.append(("authorization", f"Bearer {token}"))
    headers.data = encoder.encode(fields)
    return headers.serialize()


# 7. Without a key, a health Check announcing a 4 MiB message: refused from its length prefix (open methods take at
# most 4 KiB), before the server holds any of it.
sock = connect()
encoder = hpack.Encoder()
data = hf.DataFrame(1)
data.data = b"\x00" + struct.pack(">I", 4 << 20) + b"h" * 1000
sock.sendall(PREFACE + hf.SettingsFrame(0).serialize() + headers_only(encoder, 1, "/grpc.health.v1.Health/Check")
             + data.serialize())
found = trailers(read_frames(sock, 15, until=ended(1))[0])
check("a keyless health Check of 4 MiB: RESOURCE_EXHAUSTED from its length prefix",
      len(found) == 1 and found[0][1] == "8" and "open (keyless) method" in found[0][2], str(found))
sock.close()

# 8. Without a key, a health Check under a 99-hour grpc-timeout that never sends its request: the request timeout
# (5 s here) ends it, whatever the deadline.
sock = connect()
encoder = hpack.Encoder()
started = time.time()
sock.sendall(PREFACE + hf.SettingsFrame(0).serialize()
             + headers_only(encoder, 1, "/grpc.health.v1.Health/Check", [("grpc-timeout", "99H")]))
found = trailers(read_frames(sock, 20, until=ended(1))[0])
took = time.time() - started
check("a keyless health Check held under grpc-timeout 99H: DEADLINE_EXCEEDED at the request timeout",
      len(found) == 1 and found[0][1] == "4" and 4.5 < took, f"{found} after {took:.1f}s")
sock.close()

# 9. Calls past the server-wide limit (--max-calls 200 here), over three connections of 100 held keyed calls each:
# the 100 past it are RESOURCE_EXHAUSTED at once.
socks = []
for _ in range(3):
    sock = connect()
    encoder = hpack.Encoder()
    sock.sendall(PREFACE + hf.SettingsFrame(0).serialize() + b"".join(
        headers_only(encoder, 1 + 2 * index, "/copslink.v1.AccountService/ReportSignals", token=key) for index in range(100)))
    socks.append(sock)

def at_call_limit(found):
    return [entry for entry in found if entry[1] == "8" and "running its limit of 200 calls" in entry[2]]


found = read_until_trailers(socks, lambda found: len(at_call_limit(found)) >= 100, 15)
limited = at_call_limit(found)
check("300 held calls over 3 connections: the 100 past --max-calls 200 are RESOURCE_EXHAUSTED",
      len(limited) == 100, f"{len(limited)} refused at the limit; statuses {sorted(set((s, m[:50]) for _, s, m in found))}")
for sock in socks:
    sock.close()

# 10. A client that grants no flow-control window (INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE): its answer waits inside
# the server's HTTP/2 stack and the socket stays writable; the stream is reset at the unwritable timeout (2 s here).
def reset(frames):
    return any(isinstance(f, hf.RstStreamFrame) for f in frames)



sock = connect()
encoder = hpack.Encoder()
settings = hf.SettingsFrame(0)
settings.settings = {hf.SettingsFrame.INITIAL_WINDOW_SIZE: 0}
started = time.time()
sock.sendall(PREFACE + settings.serialize() + call_frames(encoder, 1, "/grpc.health.v1.Health/Check", b""))
frames, _ = read_frames(sock, 15, until=reset)
resets = [(f.stream_id, f.error_code, round(time.time() - started, 1)) for f in frames if isinstance(f, hf.RstStreamFrame)]
data = [f for f in frames if isinstance(f, hf.DataFrame) and f.data]
check("an answer held by a zero window: the stream is reset (CANCEL) at the unwritable timeout",
      len(resets) == 1 and resets[0][:2] == (1, 8) and not data, f"resets {resets}, DATA frames {len(data)}")
sock.close()

# 11. Health Checks held open without their request, past --max-public-calls (50 here): the 10 over it are
# RESOURCE_EXHAUSTED, and a probe that sends its request with the call is still answered.
sock = connect()
encoder = hpack.Encoder()
sock.sendall(PREFACE + hf.SettingsFrame(0).serialize() + b"".join(
    headers_only(encoder, 1 + 2 * index, "/grpc.health.v1.Health/Check") for index in range(60)))

def waiting_refused(found):
    return [entry for entry in found if entry[1] == "8" and "waiting for their request" in entry[2]]


waiting = waiting_refused(read_until_trailers([sock], lambda found: len(waiting_refused(found)) >= 10, 15))
probe = connect()
encoder = hpack.Encoder()
probe.sendall(PREFACE + hf.SettingsFrame(0).serialize() + call_frames(encoder, 1, "/grpc.health.v1.Health/Check", b""))
probed = trailers(read_frames(probe, 15, until=ended(1))[0])
check("60 held health Checks without a key: the 10 past 50 are RESOURCE_EXHAUSTED; a probe is still answered",
      len(waiting) == 10 and [entry[1] for entry in probed] == ["0"], f"{len(waiting)} refused; probe {probed}")
probe.close()
sock.close()

# 12. A hundred guessed keys in one write on one connection: three UNAUTHENTICATED answers, as on the native protocol
# (§12); the other calls are reset REFUSED_STREAM unanswered, and the connection is closed.
sock = connect()
encoder = hpack.Encoder()
request = b"\x0a\x06demo-1"  # GetAccountRequest{customer_id: "demo-1"}
sock.sendall(PREFACE + hf.SettingsFrame(0).serialize() + b"".join(
    call_frames(encoder, 1 + 2 * index, "/copslink.v1.AccountService/GetAccount", request,
                token="clk_%016x_%064x" % (index, index)) for index in range(100)))
frames, closed = read_frames(sock, 15)
found = trailers(frames)
refused = [f for f in frames if isinstance(f, hf.RstStreamFrame) and f.error_code == 7]
check("100 guessed keys on one connection: 3 UNAUTHENTICATED answers, the rest refused unanswered, then closed",
      [entry[1] for entry in found] == ["16"] * 3 and closed and goaways(frames),
      f"statuses {[entry[1] for entry in found]}, {len(refused)} REFUSED_STREAM, GOAWAY {goaways(frames)}, closed={closed}")
sock.close()

# 13. Keyless reflection streams whose DATA frames never end on a message boundary: the server keeps one partial
# message, not every byte the stream carried (it grew by 150 MiB in 45 s). A call answers at most 100 requests and
# then ends RESOURCE_EXHAUSTED (PROTOCOL.md §19.1), so the client opens the next stream each time one ends. h2 keeps
# to the server's flow-control windows.
sock = connect()
connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
connection.initiate_connection()
connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
connection.increment_flow_control_window(2**31 - 1 - 65535)
stream_id = 1


def open_reflection_stream():
    connection.send_headers(stream_id, [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                                        (":path", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
                                        ("content-type", "application/grpc"), ("te", "trailers")])
    sock.sendall(connection.data_to_send())


open_reflection_stream()
padding = 4000 - 5
message = b"\x3a\x00" + b"\x7a" + bytes([(padding & 0x7f) | 0x80, padding >> 7]) + b"p" * padding  # list_services, field 15
framed = b"\x00" + len(message).to_bytes(4, "big") + message
stream, sent, before, ended, streams, statuses = b"", 0, rss_kib(), False, 1, set()
started = time.time()


def receive(timeout):
    """Reads what the server sent within `timeout` (answers, WINDOW_UPDATEs); returns False once the connection has
    ended, and opens the next stream when the current one has."""
    global stream_id, stream, streams
    sock.settimeout(timeout)
    try:
        data = sock.recv(1 << 20)
    except socket.timeout:
        return True
    if not data:
        return False
    events = connection.receive_data(data)
    for event in events:
        if isinstance(event, h2.events.TrailersReceived):
            statuses.update(value for name, value in event.headers if name == "grpc-status")
    out = connection.data_to_send()
    if out:
        sock.sendall(out)
    if any(isinstance(event, h2.events.ConnectionTerminated) for event in events):
        return False
    if any(isinstance(event, (h2.events.StreamReset, h2.events.StreamEnded)) and event.stream_id == stream_id
           for event in events):
        stream_id += 2
        stream = b""
        streams += 1
        open_reflection_stream()
    return True


while sent < (24 << 20) and not ended and time.time() - started < 60:
    while len(stream) < 16383:
        stream += framed
    if min(connection.local_flow_control_window(stream_id), connection.max_outbound_frame_size) >= 16383:
        connection.send_data(stream_id, stream[:16383])  # 16,383 bytes: never a multiple of the 4,005-byte message
        stream = stream[16383:]
        sent += 16383
        sock.sendall(connection.data_to_send())
        ended = not receive(0.001)
    else:
        ended = not receive(1)
grown = rss_kib() - before
check("24 MiB of keyless reflection requests in DATA frames that split messages: the server grows by under 8 MiB",
      not ended and sent >= 24 << 20 and grown < 8 << 10 and statuses <= {"8"},
      f"sent {sent >> 20} MiB on {streams} streams (ended {sorted(statuses)}), RSS +{grown} KiB, ended={ended}")
sock.close()

# 14. A client that never reads its answers and keeps sending calls of a 423 KB account (a 2 GiB window, so flow
# control holds nothing back): once an answer fills the socket, no further call is handed its request (PROTOCOL.md
# §19.3), as the native protocol decodes no frame past the outbound high-water mark. Before, swift-nio-http2 handed
# every call of a read its request before any had answered, and the server held the answers of all its streams
# (17 MiB here in 3 s; 81 MiB in 10 s without the 2 s unwritable timeout). Now about 2 MiB.
customer = {"id": "attack-unread", "firstName": "Una", "lastName": "Read", "premisePhone": "801-555-0100",
            "address": {"street1": "1 Main St", "city": "Provo", "state": "UT", "zip": "84601"},
            "equipment": [{"id": f"eq-{i:04d}-" + "e" * 100, "name": "n" * 100, "zoneNumber": f"{i + 1:03d}",
                           "zoneDescription": "d" * 200} for i in range(999)]}
link = http.client.HTTPConnection(host, port, timeout=30)
link.request("POST", "/copslink.v1.AccountService/LinkAccount", json.dumps({"customer": customer}),
             {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
linked = link.getresponse()
linked.read()
link.close()
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sock.connect((host, port))
sock.settimeout(1)
encoder = hpack.Encoder()
settings = hf.SettingsFrame(0)
settings.settings = {hf.SettingsFrame.INITIAL_WINDOW_SIZE: 2**31 - 1}
update = hf.WindowUpdateFrame(0)
update.window_increment = 2**31 - 1 - 65535
sock.sendall(PREFACE + settings.serialize() + update.serialize())
request = b"\x0a" + bytes([len("attack-unread")]) + b"attack-unread"
before, peak, stream_id, sent = rss_kib(), 0, 1, 0
started = time.time()
while time.time() - started < 3:
    try:
        sock.sendall(b"".join(call_frames(encoder, stream_id + 2 * i, "/copslink.v1.AccountService/GetAccount", request, key)
                              for i in range(100)))
        sent += 100
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    stream_id += 200
    for _ in range(5):
        peak = max(peak, rss_kib())
        time.sleep(0.05)
sock.close()
grown = peak - before
check("GetAccount calls of a 423 KB account that are never read: the server grows by under 8 MiB",
      linked.status == 200 and grown < 8 << 10, f"link HTTP {linked.status}; {sent} calls sent, RSS +{grown} KiB")

# 15. Clients that grant no flow-control window beyond HTTP/2's initial 65,535 bytes and call GetAccount of the 423 KB
# account on every stream of four connections: each answer waits inside the server's HTTP/2 stack for a window that
# never comes, and the sockets stay writable. The server-wide unread-answer budget (--max-unread-answers, 16 MiB on
# this server) holds what fits and resets the other streams with ENHANCE_YOUR_CALM (PROTOCOL.md §12); before it, the
# server held every stream's answer, about 42 MB per connection, until the unwritable timeout.
socks, before, peak = [], rss_kib(), 0
for _ in range(4):
    sock = connect()
    encoder = hpack.Encoder()
    sock.sendall(PREFACE + hf.SettingsFrame(0).serialize()
                 + b"".join(call_frames(encoder, 1 + 2 * i, "/copslink.v1.AccountService/GetAccount", request, key)
                            for i in range(100)))
    socks.append(sock)
resets = 0
started = time.time()
# At least 3 s; then until the first reset, for at most 20 s: how many answers a debug build computes in 3 s
# varies with the machine's load, and the budget holds about 45 of them.
while time.time() - started < 3 or (resets == 0 and time.time() - started < 20):
    for sock in socks:
        frames, _ = read_frames(sock, 0.1)
        resets += sum(1 for f in frames if isinstance(f, hf.RstStreamFrame) and f.error_code == 11)
        peak = max(peak, rss_kib())
for sock in socks:
    sock.close()
grown = peak - before
check("GetAccount answers held for a window that never comes, 400 streams: the server grows by under 32 MiB and resets the rest",
      grown < 32 << 10 and resets > 0, f"RSS +{grown} KiB, {resets} streams reset ENHANCE_YOUR_CALM")

finish("attacks")
