"""The client side of every command: what is sent (bearer token, reason), what happens when the
server is missing or is not the IPAM, exit codes, `--help` with an example on every command, and
shell completion through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import typer

from api.cli import app
from tests.e2e.conftest import Cli, unique
from tests.live import BIN, free_port


class Recorder(ThreadingHTTPServer):
    """A stand-in peer over real HTTP that records each request and answers as told by path:
    `/v1/network` a JSON list, `/v1/network/html` an HTML page, anything else a plain-text 502."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.startswith("/v1/network/html"):
            self.reply(200, b"<html>a proxy login page</html>", "text/html")
        elif self.path.startswith("/v1/network"):
            self.reply(200, b"[]", "application/json")
        else:
            self.reply(502, b"Bad Gateway from the proxy", "text/plain")

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_token_is_sent_as_a_bearer_token_from_the_option_or_the_environment(recorder: Recorder) -> None:
    cli = Cli(recorder.url)
    assert cli.json("network", "list", "--token", "s3cret") == []
    assert cli("network", "list", env={"IPAM_TOKEN": "from-env"}).exit_code == 0
    assert cli.json("network", "list") == []
    tokens = [headers.get("authorization") for _, _, headers in recorder.seen]
    assert tokens == ["Bearer s3cret", "Bearer from-env", None]


def test_reason_is_sent_with_writes(recorder: Recorder) -> None:
    Cli(recorder.url)("network", "ip", "delete", "10.0.0.1", "--reason", "decommissioned m42")
    method, path, headers = recorder.seen[-1]
    assert (method, path) == ("DELETE", "/v1/ip/free/10.0.0.1")
    assert headers["x-change-reason"] == "decommissioned m42"


def test_addresses_and_ids_are_escaped_in_paths(recorder: Recorder) -> None:
    Cli(recorder.url)("network", "ip", "describe", "2001:db8::1")
    Cli(recorder.url)("network", "describe", "a b/c")
    assert [path for _, path, _ in recorder.seen] == ["/v1/ip/2001%3Adb8%3A%3A1", "/v1/network/a%20b%2Fc"]


def test_an_answer_that_is_not_the_api_exits_3_or_shows_the_status(recorder: Recorder) -> None:
    cli = Cli(recorder.url)
    message = cli.fails(3, "network", "describe", "html")
    assert "is not JSON (HTTP 200); is it the IPAM server?" in message
    message = cli.fails(1, "network", "ip", "list", "--project", "p")
    assert message == "Error: Bad Gateway from the proxy (HTTP 502)"


def test_an_unreachable_server_exits_3_with_its_address() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for args in (("network", "list"), ("network", "ip", "create", "--network", "n", "--project", "p"),
                 ("history", "network", "n")):
        result = Cli(url)(*args, env={"IPAM_RETRY_DELAY": "0.01"})  # retried quickly
        assert result.exit_code == 3, args
        assert result.stdout == ""
        assert f"cannot reach the IPAM server at {url}" in result.stderr
        assert "is the server running? start it with `ipam serve`" in " ".join(result.stderr.split())


def test_an_api_url_that_is_not_http_is_a_usage_error() -> None:
    message = Cli("ftp://example.org")(*("network", "list")).stderr
    assert "'ftp://example.org' is not an http:// or https:// address" in " ".join(message.replace("│", " ").split())


def test_a_refusal_goes_to_stderr_with_exit_1_and_nothing_on_stdout(cli: Cli) -> None:
    result = cli("network", "describe", unique("missing"))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: network with id ") and result.stderr.rstrip().endswith("(HTTP 404)")


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under a group, with its path (a group is what has subcommands)."""
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_has_help_with_an_example(cli: Cli) -> None:
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    names = {" ".join(path) for path, _ in commands}
    assert {"serve", "projections rebuild", "audit verify", "events export", "network create",
            "network allocate", "network free", "network delete", "network update", "network list",
            "network describe", "network ip create", "network ip list", "network ip describe",
            "network ip update", "network ip delete", "history network", "history ip",
            "history prefix"} <= names
    for path, command in commands:
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        if not hasattr(command, "commands"):
            assert "Example: ipam " + " ".join(path) in " ".join(result.stdout.split()), path


def test_root_help_shows_client_and_local_commands(cli: Cli) -> None:
    out = cli.ok("--help").stdout
    assert "Client (HTTP API)" in out and "Local (the store)" in out
    assert "--install-completion" in out


def _complete(words: str, url: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "_IPAM_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1), "IPAM_API_URL": url,
           "IPAM_TOKEN": token or ""}
    return subprocess.run([str(BIN / "ipam")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_shell_completion_offers_commands_and_the_servers_network_ids(cli: Cli) -> None:
    network_id = unique("complete")
    cli.ok("network", "create", "--id", network_id, "--prefixes", "10.230.0.0/24")
    assert _complete("ipam netw", cli.url).stdout.split() == ["network"]
    assert _complete("ipam network al", cli.url).stdout.split() == ["allocate"]
    offered = _complete(f"ipam network describe {network_id[:12]}", cli.url, cli.token)
    assert offered.returncode == 0 and offered.stdout.split() == [network_id]
    assert _complete(f"ipam network describe {network_id[:12]}", cli.url).stdout.split() == []  # 401
    ip = json.loads(cli.ok("network", "ip", "create", "--network", network_id, "--project", "p",
                           "-o", "json").stdout)["ipaddress"]
    assert _complete("ipam network ip delete 10.230.0.", cli.url, cli.token).stdout.split() == [ip]


def test_shell_completion_without_a_server_offers_nothing_quietly() -> None:
    offered = _complete("ipam network describe ", f"http://127.0.0.1:{free_port()}")
    assert offered.returncode == 0
    assert offered.stdout.strip() == "" and offered.stderr == ""


def test_a_missing_or_bad_token_says_how_to_give_one(cli: Cli) -> None:
    for token in (None, "ipam_" + "x" * 43):
        message = Cli(cli.url, token)("network", "list").stderr
        assert "(HTTP 401)" in message
        assert "give a token with --token or IPAM_TOKEN" in message
