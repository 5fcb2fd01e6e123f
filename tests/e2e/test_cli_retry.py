"""The client asks again, safely: every write carries a fresh `Idempotency-Key`, the same on each
attempt; a dropped connection, a lost answer and a 503 are retried with backoff, so an
allocation whose answer never arrived is answered on the retry with the same address, allocated
once. Against a live `ipam serve` behind a real TCP proxy that misbehaves as each test tells it."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import UUID

import pytest

from api.cli.client import Retries
from tests.e2e.conftest import Cli, unique
from tests.live import Live

FAST = {"IPAM_RETRY_DELAY": "0.01"}  # the backoff's first wait, so that the tests run quickly
_blocks = iter(range(1, 250))  # each test its own prefixes: networks never overlap on one server


@dataclass(frozen=True)
class Seen:
    """A request as the proxy received it."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class Proxy:
    """A TCP proxy to `upstream`, one request per connection, that handles the n-th request as
    `plan` says: `forward` it; `drop` it (close the connection without forwarding or answering);
    `lose` it (forward it, let the server answer, close the connection without passing the answer
    on: the change is made and the client never hears); or `503:<Retry-After>` (answer 503
    itself). Once the plan is used up, it forwards."""

    upstream: tuple[str, int]
    plan: deque[str] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            request = _read_request(connection)
            if request is None:
                return
            head, body = request
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            with self._lock:
                self.seen.append(Seen(method, path, headers))
                action = self.plan.popleft() if self.plan else "forward"
            if action == "drop":
                return
            if action.startswith("503:"):
                message = b'{"statuscode":503,"message":"deploying"}'
                connection.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    + f"Retry-After: {action[4:]}\r\nContent-Length: {len(message)}\r\n".encode()
                    + b"Connection: close\r\n\r\n" + message)
                return
            answer = self._forward(lines, body)
            if action == "lose":
                return
            connection.sendall(answer)

    def _forward(self, lines: list[str], body: bytes) -> bytes:
        """The server's whole answer to the request (sent with `Connection: close`)."""
        kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
        head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        with socket.create_connection(self.upstream) as upstream:
            upstream.sendall(head + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _read_request(connection: socket.socket) -> tuple[bytes, bytes] | None:
    """One request's head (without its blank line) and body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body


@pytest.fixture
def proxy(server: Live) -> Iterator[Proxy]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    running = Proxy((host, int(port)))
    yield running
    running.close()


@pytest.fixture
def through(proxy: Proxy, server: Live) -> Cli:
    """`ipam ...` through the proxy."""
    return Cli(proxy.url, server.token)


def one_line(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def network(cli: Cli) -> str:
    """A fresh network with an IPv4 prefix of its own, created directly; its id."""
    network_id = unique("retry")
    cli.ok("network", "create", "--id", network_id, "--prefixes", f"10.250.{next(_blocks)}.0/24")
    return network_id


def allocations(cli: Cli, network_id: str) -> list[str]:
    return [ip["ipaddress"] for ip in cli.json("network", "ip", "list", "--network", network_id)]


def keys(proxy: Proxy, method: str, path: str) -> list[str | None]:
    return [s.key for s in proxy.seen if (s.method, s.path) == (method, path)]


def assert_uuid4(key: str | None) -> None:
    assert key is not None and UUID(key).version == 4 and str(UUID(key)) == key


# -- an allocation whose answer was lost, or that never arrived --------------------------------


def test_an_allocation_whose_answer_was_lost_is_retried_with_the_same_key_and_allocated_once(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    proxy.plan.extend(["lose"])  # the server allocates; the client never hears
    result = through("network", "ip", "create", "--network", network_id, "--project", "p",
                     "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr
    answered = json.loads(result.stdout)
    assert answered["ipaddress"].endswith(".1")  # the lowest free address, not the next one
    notes = one_line(result.stderr)
    assert f"cannot reach the IPAM server at {proxy.url}: Server disconnected without sending a " \
           "response.; trying again in" in notes
    assert "(attempt 2 of 4)" in notes
    assert notes.endswith("the server had done it already: this is its first answer")
    sent = keys(proxy, "POST", "/v1/ip/allocate")
    assert len(sent) == 2 and sent[0] == sent[1]
    assert_uuid4(sent[0])
    assert allocations(cli, network_id) == [answered["ipaddress"]]
    assert len(cli.json("history", "network", network_id, "--type", "IPAcquired")) == 1


def test_an_allocation_dropped_before_the_server_saw_it_is_retried_and_allocated_once(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    proxy.plan.extend(["drop", "drop"])
    result = through("network", "ip", "create", "--network", network_id, "--project", "p",
                     "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr
    notes = result.stderr.splitlines()
    assert len(notes) == 2 and "(attempt 2 of 4)" in notes[0] and "(attempt 3 of 4)" in notes[1]
    assert "had done it already" not in result.stderr  # the third attempt was the first to arrive
    sent = keys(proxy, "POST", "/v1/ip/allocate")
    assert len(sent) == 3 and len(set(sent)) == 1
    assert allocations(cli, network_id) == [json.loads(result.stdout)["ipaddress"]]


def test_a_specific_address_whose_answer_was_lost_is_not_refused_as_taken_on_the_retry(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    address = cli.json("network", "describe", network_id)["prefixes"][0].replace(".0/24", ".9")
    proxy.plan.extend(["lose"])
    result = through("network", "ip", "create", "--network", network_id, "--project", "p",
                     "--ipaddress", address, "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr  # not 409: the retry is the same request
    assert json.loads(result.stdout)["ipaddress"] == address
    assert allocations(cli, network_id) == [address]


def test_a_child_network_whose_answer_was_lost_is_the_same_child_allocated_once(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    partition, parent = unique("partition"), unique("super")
    cli.ok("network", "create", "--id", parent, "--partition", partition, "--privatesuper",
           "--prefixes", f"10.251.{next(_blocks)}.0/24", "--default-ipv4-child-prefix-length", "28")
    proxy.plan.extend(["lose"])
    result = through("network", "allocate", "--partition", partition, "--project", "p",
                     "--name", "kid", "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr
    child = json.loads(result.stdout)
    children = [n["id"] for n in cli.json("network", "list", "--partition", partition)
                if n.get("parentnetworkid") == parent]
    assert children == [child["id"]]
    sent = keys(proxy, "POST", "/v1/network/allocate")
    assert len(sent) == 2 and sent[0] == sent[1]


def test_a_created_network_whose_answer_was_lost_is_not_refused_as_existing_on_the_retry(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = unique("created")
    proxy.plan.extend(["lose"])
    result = through("network", "create", "--id", network_id, "--prefixes",
                     f"10.252.{next(_blocks)}.0/24", "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr  # not 409 "already exists"
    assert json.loads(result.stdout)["id"] == network_id
    sent = keys(proxy, "PUT", "/v1/network")
    assert len(sent) == 2 and sent[0] == sent[1]


# -- 503 ---------------------------------------------------------------------------------------


def test_a_503_is_retried_after_its_retry_after_with_the_same_key(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    proxy.plan.extend(["503:1"])
    result = through("network", "ip", "create", "--network", network_id, "--project", "p",
                     "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr
    assert one_line(result.stderr) == (
        f"the IPAM server at {proxy.url} is unavailable (HTTP 503: deploying); trying again in "
        "1.0 s (attempt 2 of 4)")
    sent = keys(proxy, "POST", "/v1/ip/allocate")
    assert len(sent) == 2 and sent[0] == sent[1]
    assert allocations(cli, network_id) == [json.loads(result.stdout)["ipaddress"]]


def test_a_503_through_every_attempt_exits_3(through: Cli, proxy: Proxy) -> None:
    proxy.plan.extend(["503:0"] * 3)
    result = through("network", "list", env={**FAST, "IPAM_RETRIES": "2"})
    assert result.exit_code == 3 and result.stdout == ""
    lines = [one_line(line) for line in result.stderr.splitlines()]
    assert lines[0].endswith("(attempt 2 of 3)") and lines[1].endswith("(attempt 3 of 3)")
    assert lines[2] == (f"Error: the IPAM server at {proxy.url} is unavailable (HTTP 503: "
                        "deploying) (3 attempts)")
    assert len(proxy.seen) == 3


# -- what carries a key, what is retried -------------------------------------------------------


def test_every_write_carries_a_fresh_key_and_no_read_carries_one(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    first = through.json("network", "ip", "create", "--network", network_id, "--project", "p")
    through.json("network", "ip", "create", "--network", network_id, "--project", "p")
    through.json("network", "ip", "update", first["ipaddress"], "--name", "web")
    through.json("network", "ip", "delete", first["ipaddress"])
    through.json("network", "update", network_id, "--name", "renamed")
    through.json("network", "list", "--name", "renamed")
    through.json("network", "ip", "list", "--network", network_id)
    through.ok("history", "network", network_id)
    writes = [s for s in proxy.seen if s.method != "GET" and not s.path.endswith("/find")]
    reads = [s for s in proxy.seen if s not in writes]
    assert [(s.method, s.path.split("/")[2]) for s in writes] == [
        ("POST", "ip"), ("POST", "ip"), ("POST", "ip"), ("DELETE", "ip"), ("POST", "network")]
    for seen in writes:
        assert_uuid4(seen.key)
    assert len({s.key for s in writes}) == len(writes)
    assert {s.path.split("?")[0] for s in reads} >= {"/v1/network/find", "/v1/ip/find"}
    assert all(s.key is None for s in reads)


def test_a_read_is_retried_after_a_dropped_connection(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    proxy.plan.extend(["drop"])
    result = through("network", "describe", network_id, "-o", "json", env=FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == network_id
    assert "(attempt 2 of 4)" in result.stderr
    assert [s.method for s in proxy.seen] == ["GET", "GET"]


def test_when_every_attempt_fails_the_unreachable_message_stays_with_exit_3(
    cli: Cli, through: Cli, proxy: Proxy,
) -> None:
    network_id = network(cli)
    proxy.plan.extend(["drop"] * 4)
    result = through("network", "ip", "create", "--network", network_id, "--project", "p",
                     env=FAST)
    assert result.exit_code == 3 and result.stdout == ""
    lines = [one_line(line) for line in result.stderr.splitlines()]
    assert [line[-len("(attempt 2 of 4)"):] for line in lines[:3]] == [
        "(attempt 2 of 4)", "(attempt 3 of 4)", "(attempt 4 of 4)"]
    assert lines[3] == (f"Error: cannot reach the IPAM server at {proxy.url}: Server disconnected "
                        "without sending a response. (4 attempts)")
    assert lines[4].startswith("is the server running?")
    sent = keys(proxy, "POST", "/v1/ip/allocate")
    assert len(sent) == 4 and len(set(sent)) == 1
    assert allocations(cli, network_id) == []


def test_ipam_retries_0_tries_once(through: Cli, proxy: Proxy) -> None:
    proxy.plan.extend(["drop"])
    result = through("network", "list", env={"IPAM_RETRIES": "0"})
    assert result.exit_code == 3
    assert "trying again" not in result.stderr and "attempts" not in result.stderr
    assert len(proxy.seen) == 1


@pytest.mark.parametrize(("name", "value"), [
    ("IPAM_RETRIES", "many"), ("IPAM_RETRIES", "-1"), ("IPAM_RETRIES", "11"),
    ("IPAM_RETRY_DELAY", "soon"), ("IPAM_RETRY_DELAY", "61"),
])
def test_a_bad_retry_setting_is_a_usage_error(through: Cli, proxy: Proxy, name: str, value: str) -> None:
    result = through("network", "list", env={name: value})
    assert result.exit_code == 2
    assert f"Invalid value for {name}: {value!r} is not a" in one_line(result.stderr)
    assert proxy.seen == []


def test_help_says_what_is_retried_and_how_to_tune_it(cli: Cli) -> None:
    text = one_line(cli.ok("network", "ip", "create", "--help").stdout)
    for words in ("a refused or dropped connection and a 503 are tried again IPAM_RETRIES times "
                  "(default 3, 0: never)", "IPAM_RETRY_DELAY", "Idempotency-Key"):
        assert words in text


# -- the backoff -------------------------------------------------------------------------------


def test_each_wait_doubles_with_jitter_and_is_capped() -> None:
    retries = Retries(delay=0.5, longest=10.0)
    for attempt, full in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 10.0), (60, 10.0)):
        waits = [retries.wait(attempt) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits)
        assert len(set(waits)) > 1  # jittered


@pytest.mark.parametrize(("header", "expected"), [("0", 0.0), ("3", 3.0), ("3600", 10.0)])
def test_retry_after_in_seconds_is_honoured_up_to_the_longest_wait(header: str, expected: float) -> None:
    assert Retries().wait(1, header) == expected


def test_retry_after_as_a_date_is_honoured_and_one_that_is_neither_falls_back_to_backoff() -> None:
    in_four = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    assert 2.0 <= Retries().wait(1, in_four) <= 4.0
    assert Retries().wait(1, format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)) == 0.0
    assert 0.25 <= Retries().wait(1, "soon") <= 0.5


def test_the_settings_come_from_the_environment() -> None:
    assert Retries.from_env({}) == Retries(attempts=4, delay=0.5)
    assert Retries.from_env({"IPAM_RETRIES": "0", "IPAM_RETRY_DELAY": "2"}) == Retries(attempts=1, delay=2.0)
    assert Retries.from_env({"IPAM_RETRIES": " ", "IPAM_RETRY_DELAY": ""}) == Retries()

