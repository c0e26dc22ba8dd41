"""HTTP/JSON checks against a running copslink-server --demo (scripts/grpc-interop/run): Python's http.client as the
real peer calls every AccountService method with proto3 JSON bodies, an error, a server stream (newline-delimited
JSON), a client stream (a newline-delimited body) and pipelined requests."""

import http.client
import json
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
key = sys.argv[2]
from checks import check, finish


def call(method, body, token=key, raw=None):
    """POSTs to /copslink.v1.AccountService/<method>; returns (HTTP status, body text)."""
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request("POST", f"/copslink.v1.AccountService/{method}", raw if raw is not None else json.dumps(body), headers)
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, text


def answer(method, body):
    status, text = call(method, body)
    check(f"HTTP/JSON {method}: 200", status == 200, f"{status} {text[:300]}")
    try:
        return json.loads(text) if status == 200 else {}
    except ValueError:
        return {}


categories = answer("ListTestCategories", {})
check("ListTestCategories lists the categories", any(c.get("id") == "service" for c in categories.get("categories", [])), str(categories)[:200])
account = answer("GetAccount", {"customerId": "demo-1"})
check("GetAccount in proto3 JSON (lowerCamelCase, enum names)", account.get("accountNumber") == "22-8761" and account.get("linkState") == "LINK_STATE_LINKED", str(account)[:200])
answer("GetTestStatus", {"customerId": "demo-1"})
found = answer("SearchAuthorities", {"customerId": "demo-1", "type": "AUTHORITY_TYPE_POLICE"})
police = [a["id"] for a in found.get("authorities", [])]
check("SearchAuthorities finds police for demo-1", len(police) > 0, str(found)[:200])

customer = {
    "id": "http-json-1", "firstName": "Grace", "lastName": "Hopper", "premisePhone": "801-555-0198",
    "address": {"street1": "1 Main St", "city": "Provo", "state": "UT", "zip": "84601"},
}
party = {
    "id": "p-1", "priority": 1, "firstName": "Grace", "lastName": "Hopper", "role": "PARTY_ROLE_KEYHOLDER",
    "phones": [{"number": "801-555-0199", "type": "PHONE_TYPE_MOBILE"}],
}
linked = answer("LinkAccount", {"customer": customer, "respondingParties": [party]})
check("LinkAccount creates an account", bool(linked.get("account", {}).get("accountNumber")), str(linked)[:200])
number = linked.get("account", {}).get("accountNumber", "")
answer("SyncCustomer", {"customer": dict(customer, companyName="Hopper Navy Supply"), "respondingParties": [party]})
added = answer("AddAccountAuthorities", {"customerId": "http-json-1", "authorities": [{"authorityId": police[0] if police else "", "permitNumber": "P-77"}]})
added_ids = [a.get("id") for a in added.get("added", [])]
if added_ids:
    answer("RemoveAccountAuthority", {"customerId": "http-json-1", "accountAuthorityId": added_ids[0]})
else:
    check("AddAccountAuthorities added one", False, str(added)[:200])
answer("SetCentralStationZones", {"customerId": "http-json-1", "zones": [{"zoneNumber": "001", "description": "Front door", "eventType": "ZONE_EVENT_TYPE_BURGLARY"}]})
placed = answer("PlaceOnTest", {"customerId": "http-json-1", "categoryId": "service", "durationHours": 1})
check("PlaceOnTest answers the session", placed.get("session", {}).get("state") == "TEST_STATE_ACTIVE", str(placed)[:200])
answer("PlaceOffTest", {"customerId": "http-json-1"})

now = int(time.time() * 1000)
signal = {"receiverNumber": "2", "line": "1", "accountNumber": "22-8763", "receivedAtMs": str(now), "eventCode": "130", "qualifier": 1, "partition": 1, "zoneOrUser": "001"}
status, text = call("ReportSignals", None, raw="\n".join(json.dumps(signal) for _ in range(2)) + "\n")
check("HTTP/JSON ReportSignals (a newline-delimited body): 200", status == 200, f"{status} {text[:200]}")
check("ReportSignals counts both lines", status == 200 and json.loads(text).get("received") == 2, text[:200])

status, text = call("RequestTestData", {"customerId": "demo-3", "type": "TEST_DATA_TYPE_RESULTS", "fromMs": str(now - 30 * 86_400_000), "toMs": str(now), "pageSize": 1})
lines = [line for line in text.splitlines() if line.strip()]
check("HTTP/JSON RequestTestData: 200", status == 200, f"{status} {text[:200]}")
pages = [json.loads(line) for line in lines]
rows = sum(len(page.get("results", [])) for page in pages)
check("RequestTestData streams pages, one JSON object per line", len(pages) > 1 and rows == len(pages), f"{len(pages)} pages, {rows} rows")

unlinked = answer("UnlinkAccount", {"customerId": "http-json-1"})
check("UnlinkAccount unlinks", unlinked.get("wasLinked") is True, str(unlinked)[:200])

status, text = call("GetAccount", {"customerId": "no-such-customer"})
error = json.loads(text) if text.startswith("{") else {}
check("an unknown customer: 404 with code 5 NOT_FOUND", status == 404 and error.get("code") == 5 and error.get("status") == "NOT_FOUND", f"{status} {text[:200]}")
status, text = call("GetAccount", {"customerId": "demo-1"}, token=None)
check("no key: 401 UNAUTHENTICATED", status == 401, f"{status} {text[:200]}")
status, text = call("GetAccount", None, raw='{"customerId": "demo-1", "noSuchField": 1}')
check("an unknown field: 400 INVALID_ARGUMENT", status == 400, f"{status} {text[:200]}")


def pipelined(bodies):
    """Sends one POST per body on one connection in a single write (HTTP/1.1 pipelining); returns the statuses of the
    answers, read in order from one buffered reader. (An `http.client.HTTPResponse` per answer makes a reader of its own
    over the socket; when the server's answers arrive together, the first reader buffers all of them and the second
    waits for bytes that already came: this check once timed out that way.)"""
    connection = socket.create_connection((host, int(port)), timeout=10)
    requests = b""
    for body in bodies:
        payload = json.dumps(body).encode()
        requests += (f"POST /copslink.v1.AccountService/GetAccount HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Authorization: Bearer {key}\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
    connection.sendall(requests)
    reader = connection.makefile("rb")
    statuses = [read_response(reader) for _ in bodies]
    reader.close()
    connection.close()
    return statuses


def read_response(reader):
    """Reads one HTTP/1.1 response (a Content-Length or chunked body) from `reader`; returns its status."""
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        reader.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while (size := int(reader.readline().split(b";")[0], 16)) > 0:
            reader.read(size + 2)
        while reader.readline() not in (b"\r\n", b""):
            pass
    return status


statuses = pipelined([{"customerId": "demo-1"}, {"customerId": "no-such-customer"}, {"customerId": "demo-2"}])
check("three pipelined requests: three answers, in order", statuses == [200, 404, 200], str(statuses))

finish("http-json")
