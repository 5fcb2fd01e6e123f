"""Shell completion of network ids and addresses, asked of the server with a short timeout.

A completion that cannot reach the server offers nothing rather than an error in the shell.
"""

from __future__ import annotations

import os
from typing import Any

import typer

from api.cli.client import DEFAULT_API_URL


def _fetch(ctx: typer.Context, path: str) -> list[dict[str, Any]]:
    """The list a GET answers, or nothing. With the standard library's HTTP client: a shell
    waits for completion, and httpx takes longer to import than the request takes."""
    import json
    import urllib.error
    import urllib.request

    url = ctx.params.get("api_url") or os.environ.get("IPAM_API_URL") or DEFAULT_API_URL
    token = ctx.params.get("token") or os.environ.get("IPAM_TOKEN")
    headers = {"Accept": "application/json", "User-Agent": "ipam-cli"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if not str(url).startswith(("http://", "https://")):
        return []
    request = urllib.request.Request(str(url).rstrip("/") + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:  # noqa: S310 (http(s) only)
            body = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return []
    return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []


def network_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Network ids starting with what was typed, each with its name."""
    return [(str(n["id"]), str(n.get("name") or n.get("partitionid") or ""))
            for n in _fetch(ctx, "/v1/network") if str(n.get("id", "")).startswith(incomplete)]


def addresses(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Acquired addresses starting with what was typed, each with its network."""
    return [(str(ip["ipaddress"]), str(ip.get("networkid") or ""))
            for ip in _fetch(ctx, "/v1/ip") if str(ip.get("ipaddress", "")).startswith(incomplete)]


def families(incomplete: str) -> list[str]:
    return [f for f in ("IPv4", "IPv6") if f.lower().startswith(incomplete.lower())]


def ip_types(incomplete: str) -> list[str]:
    return [t for t in ("ephemeral", "static") if t.startswith(incomplete)]
