"""`ipam history ...`: who did what, when and why, to a network, an address or a prefix."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from api.cli import completion
from api.cli.client import DEFAULT_API_URL, Api, ApiUrl, Timeout, Token, connect, err, segment
from api.cli.inputs import TIME_FORMS, moment
from api.cli.output import Format, Output, show_history

app = typer.Typer(help="Who did what, when and why: a network's, an address's or a prefix's history.",
                  no_args_is_help=True)

PAGE = 1000  # the server's largest page


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


Limit = Annotated[int, typer.Option(min=1, help="at most this many events (see --all)")]
All = Annotated[bool, typer.Option("--all", help="every event, however many")]
Sort = Annotated[Order, typer.Option(help="asc: oldest first; desc: newest first")]
Cursor = Annotated[int | None, typer.Option(min=0, help="continue after this position (a previous `next`)")]
Since = Annotated[str | None, typer.Option(help=f"only events at or after this time: {TIME_FORMS}")]
Until = Annotated[str | None, typer.Option(help=f"only events at or before this time: {TIME_FORMS}")]
Types = Annotated[list[str] | None, typer.Option(
    "--type", help="only these event types, e.g. IPAcquired (repeatable)")]


def _fetch(api: Api, path: str, limit: int, every: bool, order: Order, cursor: int | None,
           since: str | None, until: str | None, types: list[str] | None,
           **extra: str) -> list[dict[str, Any]]:
    """Follow the pages until the limit (or the end, with --all); says on stderr when more remain."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"order": order.value, "since": moment(since, "--since"),
                              "until": moment(until, "--until"), "type": types or None, **extra}
    while True:
        wanted = PAGE if every else min(PAGE, limit - len(events))
        page = api.get(path, limit=wanted, cursor=cursor, **params)
        events.extend(page["events"])
        cursor = page.get("next")
        if cursor is None:
            return events
        if not every and len(events) >= limit:
            err.print(f"[dim]more events follow: --cursor {cursor}, or --all[/dim]")
            return events


@app.command()
def network(
    network_id: Annotated[str, typer.Argument(help="the network's id", metavar="ID",
                                              autocompletion=completion.network_ids)],
    limit: Limit = 100, every: All = False, order: Sort = Order.asc, cursor: Cursor = None,
    since: Since = None, until: Until = None, types: Types = None,
    output: Output = Format.table,
    api_url: ApiUrl = DEFAULT_API_URL, token: Token = None, timeout: Timeout = 30.0,
) -> None:
    """A network's events: creation, prefixes, children, IPs, updates, deletion.

    Example: ipam history network tenant-super-network-mini-lab --type ChildNetworkAllocated
    """
    with connect(api_url, token, None, timeout) as api:
        events = _fetch(api, f"/v1/network/{segment(network_id)}/history", limit, every, order,
                        cursor, since, until, types)
    show_history(events, output, network_column=False)


@app.command()
def ip(
    address: Annotated[str, typer.Argument(help="the IP address", metavar="IP",
                                           autocompletion=completion.addresses)],
    limit: Limit = 100, every: All = False, order: Sort = Order.asc, cursor: Cursor = None,
    since: Since = None, until: Until = None, types: Types = None,
    output: Output = Format.table,
    api_url: ApiUrl = DEFAULT_API_URL, token: Token = None, timeout: Timeout = 30.0,
) -> None:
    """An address's life: every acquisition, update and release of it, in any network.

    Example: ipam history ip 10.0.0.5 --since 2026-03-03T00:00:00Z --until 2026-03-04T00:00:00Z
    """
    with connect(api_url, token, None, timeout) as api:
        events = _fetch(api, f"/v1/ip/{segment(address)}/history", limit, every, order, cursor,
                        since, until, types)
    show_history(events, output, network_column=True)


@app.command()
def prefix(
    cidr: Annotated[str, typer.Argument(help="the prefix, e.g. 10.0.0.0/24", metavar="CIDR")],
    limit: Limit = 100, every: All = False, order: Sort = Order.asc, cursor: Cursor = None,
    since: Since = None, until: Until = None, types: Types = None,
    output: Output = Format.table,
    api_url: ApiUrl = DEFAULT_API_URL, token: Token = None, timeout: Timeout = 30.0,
) -> None:
    """Everything that touched addresses or prefixes overlapping a CIDR.

    Example: ipam history prefix 10.0.0.0/22 --order desc --limit 20
    """
    with connect(api_url, token, None, timeout) as api:
        events = _fetch(api, "/v1/prefix/history", limit, every, order, cursor, since, until,
                        types, cidr=cidr)
    show_history(events, output, network_column=True)
