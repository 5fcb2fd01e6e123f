"""The client commands' connection to the HTTP API: one httpx client, the server's errors turned
into a message on standard error and an exit code.

Exit codes: 0 done, 1 the server refused (its message is printed), 2 bad usage or an input file
that does not parse, 3 the server could not be reached or answered something that is not the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from api.cli.output import visible

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
    help="seconds to wait for the server")]
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


def segment(value: str) -> str:
    """A path segment: an id or an address, escaped (an IPv6 address or an id may hold `/`)."""
    return quote(value, safe="")


class Api:
    """The metal-api v1 network and IP routes, as plain JSON in and out."""

    def __init__(self, url: str, token: str | None, reason: str | None = None,
                 timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise typer.BadParameter(f"{url!r} is not an http:// or https:// address",
                                     param_hint="'--api-url' / IPAM_API_URL")
        headers = {"User-Agent": "ipam-cli", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if reason:
            headers["X-Change-Reason"] = reason
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json_body: Any = None,
                params: Mapping[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON answer, or `ApiError` / `Unreachable`."""
        try:
            response = self._http.request(method, path, json=json_body, params=params)
        except httpx.TimeoutException:
            raise Unreachable(f"the IPAM server at {self.url} did not answer in time") from None
        except httpx.TransportError as error:
            raise Unreachable(f"cannot reach the IPAM server at {self.url}: {error}") from None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.is_success:
            if body is None:
                raise Unreachable(f"{self.url} answered {method} {path} with something that is "
                                  f"not JSON (HTTP {response.status_code}); is it the IPAM server?")
            return body
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            raise ApiError(response.status_code, body["message"])
        text = response.text.strip()[:200] or response.reason_phrase
        raise ApiError(response.status_code, text)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json_body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json_body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


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

