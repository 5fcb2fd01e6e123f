"""The client commands' connection to the HTTP API: one httpx client, the server's errors turned
into a message on standard error and an exit code.

Every write carries a fresh `Idempotency-Key` (a UUID), the same on each attempt of that request,
so a request whose connection failed or whose answer was lost is asked again safely: the server
answers a repeat with its first answer instead of changing anything twice. A refused, reset or
dropped connection and a 503 are tried again (`Retries`); a server that is slow to answer is not
(it may still be working on the request; --timeout bounds each attempt).

Exit codes: 0 done, 1 the server refused (its message is printed), 2 bad usage or an input file
that does not parse, 3 the server could not be reached or stayed unavailable (503) through every
attempt, or answered something that is not the API.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote
from uuid import uuid4

import typer
from rich.console import Console
from rich.markup import escape

from api.cli.output import visible

if TYPE_CHECKING:  # httpx is imported when a request is sent: `--help` and completion start faster
    import httpx

DEFAULT_API_URL = "http://127.0.0.1:8080"
REFUSED, USAGE, UNREACHABLE = 1, 2, 3
CONNECTION = "Connection"

ApiUrl = Annotated[str, typer.Option(
    "--api-url", envvar="IPAM_API_URL", rich_help_panel=CONNECTION, show_default=True,
    help="the IPAM server's address")]
Token = Annotated[str | None, typer.Option(
    "--token", envvar="IPAM_TOKEN", rich_help_panel=CONNECTION, show_default=False,
    help="API token, sent as a bearer token")]
Timeout = Annotated[float, typer.Option(
    "--timeout", envvar="IPAM_TIMEOUT", min=0.1, rich_help_panel=CONNECTION,
    help="seconds to wait for the server on each attempt; a refused or dropped connection and "
         "a 503 are tried again IPAM_RETRIES times (default 3, 0: never), after IPAM_RETRY_DELAY "
         "seconds (default 0.5) doubled each time, with jitter, or the 503's Retry-After (at "
         "most 10 s), for at most 30 s in all; every write carries an Idempotency-Key, the same "
         "on each attempt, so a repeated write is done once")]
Reason = Annotated[str | None, typer.Option(
    "--reason", help="why: recorded with the change in the audit history (X-Change-Reason)")]

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class ApiError(Exception):
    """The server refused a request: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Unreachable(Exception):
    """No answer from the server, or an answer that is not the API's."""


READS = frozenset({"GET", "HEAD", "OPTIONS"})
UNAVAILABLE = 503


@dataclass(frozen=True)
class Retries:
    """When a request is asked again: at most `attempts` in all, the n-th retry after `delay`
    * 2**(n-1) seconds (each wait between half and all of that, at random, so that clients
    turned away together do not return together) or after the 503's Retry-After, no wait longer
    than `longest`, and no attempt started later than `within` seconds after the first."""

    attempts: int = 4
    delay: float = 0.5
    longest: float = 10.0
    within: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Retries:
        """IPAM_RETRIES (how many times to ask again, 0 to 10) and IPAM_RETRY_DELAY (seconds
        before the first retry, 0 to 60); a value out of range is a usage error."""
        retries = _number(environ, "IPAM_RETRIES", int, 0, 10, cls.attempts - 1)
        delay = _number(environ, "IPAM_RETRY_DELAY", float, 0, 60, cls.delay)
        return cls(attempts=int(retries) + 1, delay=float(delay))

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
        asked = _seconds(retry_after) if retry_after is not None else None
        if asked is not None:
            return min(asked, self.longest)
        backoff = min(self.delay * 2.0 ** (attempt - 1), self.longest)
        return backoff / 2 + random.uniform(0, backoff / 2)


def _number(environ: Mapping[str, str], name: str, kind: type[int] | type[float],
            lowest: float, highest: float, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not lowest <= value <= highest:
        raise typer.BadParameter(f"{text!r} is not a {'whole ' if kind is int else ''}number "
                                 f"from {lowest:g} to {highest:g}", param_hint=name)
    return value


def _seconds(retry_after: str) -> float | None:
    """A Retry-After header's wait: delta-seconds or an HTTP date; None when it is neither."""
    text = retry_after.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime  # only a 503 with a date needs it

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def segment(value: str) -> str:
    """A path segment: an id or an address, escaped (an IPv6 address or an id may hold `/`)."""
    return quote(value, safe="")


class Api:
    """The metal-api v1 network and IP routes, as plain JSON in and out."""

    def __init__(self, url: str, token: str | None, reason: str | None = None,
                 timeout: float = 30.0, retries: Retries | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise typer.BadParameter(f"{url!r} is not an http:// or https:// address",
                                     param_hint="'--api-url' / IPAM_API_URL")
        headers = {"User-Agent": "ipam-cli", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if reason:
            headers["X-Change-Reason"] = reason
        self.url = url.rstrip("/")
        self.retries = retries if retries is not None else Retries.from_env()
        import httpx

        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json_body: Any = None,
                params: Mapping[str, Any] | None = None) -> Any:
        """Send one request (a write with a fresh idempotency key; a `find` is a read), asked
        again as `Retries` allows; the decoded JSON answer, or `ApiError` / `Unreachable`."""
        write = method not in READS and not path.endswith("/find")
        headers = {"Idempotency-Key": str(uuid4())} if write else {}
        response = self._send(method, path, json_body, params, headers)
        if not response.is_success:
            raise ApiError(response.status_code, _said(response) or response.reason_phrase)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Unreachable(f"{self.url} answered {method} {path} with something that is "
                              f"not JSON (HTTP {response.status_code}); is it the IPAM server?"
                              ) from None

    def _send(self, method: str, path: str, json_body: Any, params: Mapping[str, Any] | None,
              headers: dict[str, str]) -> httpx.Response:
        """The server's answer to one request, asked again with the same headers (the same
        idempotency key) after a connection failure or a 503, as `Retries` allows; a note on
        standard error before each retry."""
        import httpx

        # failures after which the request may not have reached the server, or its answer was
        # lost: asking again is safe for a read, and for a write because of its idempotency key
        retried = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.WriteError,
                   httpx.RemoteProtocolError)
        started = time.monotonic()
        attempt = 1
        while True:
            retry_after = None
            try:
                response = self._http.request(method, path, json=json_body, params=params,
                                              headers=headers)
            except retried as error:
                failure = f"cannot reach the IPAM server at {self.url}: {error}"
            except httpx.TimeoutException:
                raise Unreachable(f"the IPAM server at {self.url} did not answer in time") from None
            except httpx.TransportError as error:
                raise Unreachable(f"cannot reach the IPAM server at {self.url}: {error}") from None
            else:
                if response.status_code != UNAVAILABLE:
                    if attempt > 1 and response.headers.get("idempotent-replayed") == "true":
                        err.print("[dim]the server had done it already: this is its first "
                                  "answer[/dim]")
                    return response
                said = _said(response)
                failure = (f"the IPAM server at {self.url} is unavailable (HTTP 503"
                           f"{': ' + said if said else ''})")
                retry_after = response.headers.get("retry-after")
            wait = self.retries.wait(attempt, retry_after)
            last = attempt >= self.retries.attempts
            if last or time.monotonic() - started + wait > self.retries.within:
                tried = f" ({attempt} attempts)" if attempt > 1 else ""
                raise Unreachable(failure + tried)
            attempt += 1
            err.print(f"[dim]{escape(visible(failure))}; trying again in {wait:.1f} s "
                      f"(attempt {attempt} of {self.retries.attempts})[/dim]")
            time.sleep(wait)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json_body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json_body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def _said(response: httpx.Response) -> str:
    """The message of an error answer: the API's `message`, else the start of the text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text.strip()[:200]


@contextmanager
def connect(url: str, token: str | None, reason: str | None = None,
            timeout: float = 30.0) -> Iterator[Api]:
    """An `Api` for one command; a refusal or a missing server ends the command with its exit code
    and the message on standard error."""
    api = Api(url, token, reason, timeout)
    try:
        yield api
    except ApiError as error:
        err.print(f"[red]Error:[/red] {escape(visible(error.message))} [dim](HTTP {error.status})[/dim]")
        if error.status == 401:
            err.print("give a token with --token or IPAM_TOKEN (`ipam token create` makes one)")
        raise typer.Exit(REFUSED) from None
    except Unreachable as error:
        err.print(f"[red]Error:[/red] {escape(visible(str(error)))}")
        err.print("is the server running? start it with `ipam serve`, or point --api-url / "
                  "IPAM_API_URL at the one you mean", markup=False)
        raise typer.Exit(UNREACHABLE) from None
    finally:
        api.close()

