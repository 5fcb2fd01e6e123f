"""`ipam network ...`: networks through the HTTP API, with metalctl's commands and flags."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli import completion
from api.cli.client import DEFAULT_API_URL, ApiUrl, Reason, Timeout, Token, connect, err, segment
from api.cli.inputs import TIME_FORMS, documents, labels, moment, split
from api.cli.output import Format, Output, show_networks

app = typer.Typer(help="Manage networks: create, allocate, free, list, describe, update, delete.",
                  no_args_is_help=True)

NetworkId = Annotated[str, typer.Argument(help="the network's id", metavar="ID",
                                          autocompletion=completion.network_ids)]
Labels = Annotated[list[str] | None, typer.Option(
    "--labels", help="key=value pairs, comma-separated or repeated")]
Family = Annotated[str | None, typer.Option(
    "--addressfamily", help="IPv4 or IPv6", autocompletion=completion.families)]
At = Annotated[str | None, typer.Option(
    "--at", help=f"as it was at this time: {TIME_FORMS}")]
FILTERS = "Filters"


def _lengths(ipv4: int | None, ipv6: int | None) -> dict[str, int] | None:
    lengths = {family: n for family, n in (("IPv4", ipv4), ("IPv6", ipv6)) if n is not None}
    return lengths or None


@app.command()
def create(
    file: Annotated[str | None, typer.Option(
        "-f", "--file", help="YAML or JSON: one network, a list, or several YAML documents; - for stdin")] = None,
    id: Annotated[str | None, typer.Option("--id", help="the new network's id (default: a UUID)")] = None,  # noqa: A002
    name: Annotated[str | None, typer.Option(help="name")] = None,
    description: Annotated[str | None, typer.Option(help="description")] = None,
    partition: Annotated[str | None, typer.Option(help="partition id")] = None,
    project: Annotated[str | None, typer.Option(help="project id")] = None,
    prefixes: Annotated[list[str] | None, typer.Option(help="prefixes, comma-separated or repeated")] = None,
    destination_prefixes: Annotated[list[str] | None, typer.Option(
        "--destination-prefixes", help="destination prefixes, comma-separated or repeated")] = None,
    privatesuper: Annotated[bool, typer.Option(help="the partition's private super network")] = False,
    nat: Annotated[bool, typer.Option(help="NAT")] = False,
    underlay: Annotated[bool, typer.Option(help="an underlay network")] = False,
    shared: Annotated[bool, typer.Option(help="shared")] = False,
    vrf: Annotated[int | None, typer.Option(help="VRF id")] = None,
    vrfshared: Annotated[bool, typer.Option(help="the VRF may be shared")] = False,
    network_labels: Labels = None,
    ipv4_length: Annotated[int | None, typer.Option(
        "--default-ipv4-child-prefix-length", help="IPv4 prefix length of allocated children")] = None,
    ipv6_length: Annotated[int | None, typer.Option(
        "--default-ipv6-child-prefix-length", help="IPv6 prefix length of allocated children")] = None,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Create networks from a file (as `metalctl network create -f`), or one from the flags.

    Networks are created in the file's order; the first refusal stops, after printing those
    created so far. A file holding one network prints one document, a list prints a list.

    Example: ipam network create -f tenant-super.yaml

    Example: ipam network create --id internet --prefixes 185.1.2.0/24 --destination-prefixes 0.0.0.0/0 --nat
    """
    flags = dict(id=id, name=name, description=description, partitionid=partition,
                 projectid=project, prefixes=split(prefixes) or None,
                 destinationprefixes=split(destination_prefixes) or None, vrf=vrf,
                 labels=labels(network_labels) or None,
                 defaultchildprefixlength=_lengths(ipv4_length, ipv6_length))
    switches = dict(privatesuper=privatesuper, nat=nat, underlay=underlay, shared=shared,
                    vrfshared=vrfshared)
    given = {k: v for k, v in flags.items() if v is not None}
    given.update((k, v) for k, v in switches.items() if v)
    if file is not None and given:
        raise typer.BadParameter(f"give either a file or flags, not both (got --{next(iter(given))})",
                                 param_hint="'-f' / '--file'")
    if file is None and not given:
        raise typer.BadParameter("give a file (-f FILE) or the network's flags, e.g. --prefixes",
                                 param_hint="'-f' / '--file'")
    bodies, single = documents(file) if file is not None else ([given], True)
    created: list[dict[str, Any]] = []
    with connect(api_url, token, reason, timeout) as api:
        try:
            for body in bodies:
                created.append(api.put("/v1/network", body))
        finally:
            if created:
                show_networks(created[0] if single else created, output)
            if 1 < len(bodies) and len(created) < len(bodies):
                failed = bodies[len(created)]
                err.print(f"network {len(created) + 1} of {len(bodies)} "
                          f"({failed.get('id') or failed.get('name') or 'without id'}) was not created:")


@app.command()
def allocate(
    partition: Annotated[str, typer.Option(help="partition of the private super network")],
    project: Annotated[str, typer.Option(help="project the network belongs to")],
    name: Annotated[str, typer.Option(help="name")],
    description: Annotated[str, typer.Option(help="description")] = "",
    network_labels: Labels = None,
    shared: Annotated[bool, typer.Option(help="other projects may acquire IPs in it")] = False,
    addressfamily: Family = None,
    ipv4_length: Annotated[int | None, typer.Option(
        "--ipv4-prefix-length", help="IPv4 prefix length (default: the super's)")] = None,
    ipv6_length: Annotated[int | None, typer.Option(
        "--ipv6-prefix-length", help="IPv6 prefix length (default: the super's)")] = None,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Allocate a child network for a project from the partition's private super network.

    Both families of a dual-stack super unless --addressfamily picks one.

    Example: ipam network allocate --partition mini-lab --project 4b9b17c4-2d7c-4190-ae95-dda44e430fa6 --name my-node-network
    """
    body: dict[str, Any] = dict(partitionid=partition, projectid=project, name=name,
                                description=description, labels=labels(network_labels),
                                shared=shared)
    if addressfamily is not None:
        body["addressfamily"] = addressfamily
    if (lengths := _lengths(ipv4_length, ipv6_length)) is not None:
        body["length"] = lengths
    with connect(api_url, token, reason, timeout) as api:
        show_networks(api.post("/v1/network/allocate", body), output)


@app.command()
def free(
    network_id: NetworkId,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Free an allocated child network: its prefixes go back to the super network.

    Example: ipam network free 2d2c0350-3f66-4597-ae97-ef6797232212
    """
    with connect(api_url, token, reason, timeout) as api:
        show_networks(api.delete(f"/v1/network/free/{segment(network_id)}"), output)


@app.command()
def delete(
    network_id: NetworkId,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Delete a network (it must hold no IPs and no child networks).

    Example: ipam network delete internet
    """
    with connect(api_url, token, reason, timeout) as api:
        show_networks(api.delete(f"/v1/network/{segment(network_id)}"), output)


def _edit(current: list[str], add: list[str], remove: list[str], what: str, network_id: str) -> list[str]:
    missing = [p for p in remove if p not in current]
    if missing:
        raise typer.BadParameter(f"{missing[0]} is not among the {what} of {network_id}: "
                                 f"{', '.join(current) or 'none'}", param_hint=f"'--remove-{what}'")
    kept = [p for p in current if p not in remove]
    return kept + [p for p in dict.fromkeys(add) if p not in kept]


@app.command()
def update(
    network_id: NetworkId,
    name: Annotated[str | None, typer.Option(help="new name")] = None,
    description: Annotated[str | None, typer.Option(help="new description")] = None,
    network_labels: Annotated[list[str] | None, typer.Option(
        "--labels", help="replace the labels: key=value pairs")] = None,
    shared: Annotated[bool | None, typer.Option("--shared/--not-shared", help="shared or not", show_default=False)] = None,
    add_prefixes: Annotated[list[str] | None, typer.Option(help="prefixes to add")] = None,
    remove_prefixes: Annotated[list[str] | None, typer.Option(help="prefixes to remove")] = None,
    add_destinationprefixes: Annotated[list[str] | None, typer.Option(help="destination prefixes to add")] = None,
    remove_destinationprefixes: Annotated[list[str] | None, typer.Option(help="destination prefixes to remove")] = None,
    ipv4_length: Annotated[int | None, typer.Option(
        "--default-ipv4-child-prefix-length", help="IPv4 prefix length of children allocated from now on")] = None,
    ipv6_length: Annotated[int | None, typer.Option(
        "--default-ipv6-child-prefix-length", help="IPv6 prefix length of children allocated from now on")] = None,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Update a network's name, description, labels, sharing, prefixes or child prefix lengths.

    Prefixes are added and removed relative to the network as it is now; a prefix that still
    holds IPs or children cannot be removed.

    Example: ipam network update tenant-super-network-mini-lab --add-prefixes 2001:db8:0:20::/64 --default-ipv6-child-prefix-length 80
    """
    body: dict[str, Any] = {"id": network_id}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if network_labels is not None:
        body["labels"] = labels(network_labels)
    if shared is not None:
        body["shared"] = shared
    with connect(api_url, token, reason, timeout) as api:
        edits = (add_prefixes, remove_prefixes, add_destinationprefixes, remove_destinationprefixes)
        lengths = _lengths(ipv4_length, ipv6_length)
        if any(edits) or lengths:
            current = api.get(f"/v1/network/{segment(network_id)}")
            if add_prefixes or remove_prefixes:
                body["prefixes"] = _edit(current["prefixes"], split(add_prefixes),
                                         split(remove_prefixes), "prefixes", network_id)
            if add_destinationprefixes or remove_destinationprefixes:
                body["destinationprefixes"] = _edit(
                    current["destinationprefixes"], split(add_destinationprefixes),
                    split(remove_destinationprefixes), "destinationprefixes", network_id)
            if lengths:
                body["defaultchildprefixlength"] = {**(current.get("defaultchildprefixlength") or {}),
                                                    **lengths}
        if len(body) == 1:
            raise typer.BadParameter("nothing to update: give at least one of the options",
                                     param_hint="NETWORK")
        show_networks(api.post("/v1/network", body), output)


@app.command("list")
def list_networks(
    network_id: Annotated[str | None, typer.Option("--id", help="network id", rich_help_panel=FILTERS)] = None,
    name: Annotated[str | None, typer.Option(help="name", rich_help_panel=FILTERS)] = None,
    partition: Annotated[str | None, typer.Option(help="partition id", rich_help_panel=FILTERS)] = None,
    project: Annotated[str | None, typer.Option(help="project id", rich_help_panel=FILTERS)] = None,
    parent: Annotated[str | None, typer.Option(help="parent network id", rich_help_panel=FILTERS)] = None,
    prefixes: Annotated[list[str] | None, typer.Option(help="holds these prefixes", rich_help_panel=FILTERS)] = None,
    destination_prefixes: Annotated[list[str] | None, typer.Option(
        "--destination-prefixes", help="has these destination prefixes", rich_help_panel=FILTERS)] = None,
    privatesuper: Annotated[bool | None, typer.Option(
        "--privatesuper/--no-privatesuper", help="private super or not", show_default=False, rich_help_panel=FILTERS)] = None,
    underlay: Annotated[bool | None, typer.Option(
        "--underlay/--no-underlay", help="underlay or not", show_default=False, rich_help_panel=FILTERS)] = None,
    nat: Annotated[bool | None, typer.Option(
        "--nat/--no-nat", help="NAT or not", show_default=False, rich_help_panel=FILTERS)] = None,
    vrf: Annotated[int | None, typer.Option(help="VRF id", rich_help_panel=FILTERS)] = None,
    network_labels: Annotated[list[str] | None, typer.Option(
        "--labels", help="has these key=value labels", rich_help_panel=FILTERS)] = None,
    addressfamily: Annotated[str | None, typer.Option(
        "--addressfamily", help="holds prefixes of this family: IPv4 or IPv6",
        autocompletion=completion.families, rich_help_panel=FILTERS)] = None,
    at: At = None,
    output: Output = Format.table,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """List networks, children under their parents; filters must all match.

    With --at, the networks as they were then (filters on prefixes, labels and family do not
    apply to past states).

    Example: ipam network list --partition mini-lab --addressfamily IPv6

    Example: ipam network list --at 2026-03-03T12:00:00Z -o yaml
    """
    scalar = dict(id=network_id, name=name, partitionid=partition, projectid=project,
                  parentnetworkid=parent, privatesuper=privatesuper, underlay=underlay, nat=nat,
                  vrf=vrf)
    scalar = {k: v for k, v in scalar.items() if v is not None}
    lists = dict(prefixes=split(prefixes), destinationprefixes=split(destination_prefixes),
                 labels=labels(network_labels), addressfamily=addressfamily)
    lists = {k: v for k, v in lists.items() if v}
    when = moment(at)
    with connect(api_url, token, None, timeout) as api:
        if when is not None:
            if lists:
                raise typer.BadParameter(f"--{next(iter(lists))} cannot be combined with --at",
                                         param_hint="'--at'")
            found = [n for n in api.get("/v1/network", at=when)
                     if all(n.get(k) == v for k, v in scalar.items())]
        elif scalar or lists:
            found = api.post("/v1/network/find", {**scalar, **lists})
        else:
            found = api.get("/v1/network")
    show_networks(found, output)


@app.command()
def describe(
    network_id: NetworkId,
    at: At = None,
    version: Annotated[int | None, typer.Option(min=1, help="as it was at this version of its history")] = None,
    output: Annotated[Format, typer.Option(
        "-o", "--output-format", envvar="IPAM_OUTPUT", case_sensitive=False,
        help="yaml (default here, as metalctl), json, table or wide")] = Format.yaml,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Show one network with its consumption per address family, now or at a past time or version.

    Example: ipam network describe tenant-super-network-mini-lab

    Example: ipam network describe 2d2c0350-3f66-4597-ae97-ef6797232212 --at 2026-03-03T12:00:00Z
    """
    if at is not None and version is not None:
        raise typer.BadParameter("give --at or --version, not both", param_hint="'--at'")
    with connect(api_url, token, None, timeout) as api:
        show_networks(api.get(f"/v1/network/{segment(network_id)}", at=moment(at), version=version),
                      output)
