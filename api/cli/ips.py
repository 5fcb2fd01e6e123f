"""`ipam network ip ...`: acquire, list, describe, update and release IP addresses."""

from __future__ import annotations

import ipaddress as ipaddress_module
from typing import Annotated, Any

import typer

from api.cli import completion
from api.cli.client import DEFAULT_API_URL, ApiUrl, Reason, Timeout, Token, connect, segment
from api.cli.inputs import TIME_FORMS, moment, split
from api.cli.output import Format, Output, show_ips

app = typer.Typer(help="Manage IP addresses: acquire, list, describe, update, release.",
                  no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="the IP address", metavar="IP",
                                        autocompletion=completion.addresses)]
IpType = Annotated[str | None, typer.Option(
    "--type", help="ephemeral or static", autocompletion=completion.ip_types)]
Tags = Annotated[list[str] | None, typer.Option(help="tags, comma-separated or repeated")]
FILTERS = "Filters"


@app.command()
def create(
    network: Annotated[str, typer.Option(help="the network to acquire from",
                                         autocompletion=completion.network_ids)],
    project: Annotated[str, typer.Option(help="the project the IP belongs to")],
    name: Annotated[str, typer.Option(help="name")] = "",
    description: Annotated[str, typer.Option(help="description")] = "",
    ip_type: IpType = None,
    tags: Tags = None,
    machineid: Annotated[str, typer.Option(help="the machine the IP is for")] = "",
    addressfamily: Annotated[str | None, typer.Option(
        help="IPv4 or IPv6 (default: IPv4, or IPv6 in an IPv6-only network)",
        autocompletion=completion.families)] = None,
    ipaddress: Annotated[str | None, typer.Option(help="this address rather than the lowest free one")] = None,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Acquire an IP address in a network: the lowest free one of a family, or a given one.

    Example: ipam network ip create --network 2d2c0350-3f66-4597-ae97-ef6797232212 --project 4b9b17c4-2d7c-4190-ae95-dda44e430fa6

    Example: ipam network ip create --network internet --project p1 --ipaddress 185.1.2.10 --type static
    """
    if ipaddress is not None and addressfamily is not None:
        raise typer.BadParameter("give --ipaddress or --addressfamily, not both",
                                 param_hint="'--addressfamily'")
    body: dict[str, Any] = dict(networkid=network, projectid=project, name=name,
                                description=description, tags=split(tags), machineid=machineid)
    if ip_type is not None:
        body["type"] = ip_type
    if addressfamily is not None:
        body["addressfamily"] = addressfamily
    path = "/v1/ip/allocate" if ipaddress is None else f"/v1/ip/allocate/{segment(ipaddress)}"
    with connect(api_url, token, reason, timeout) as api:
        show_ips(api.post(path, body), output)


def _cidr(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress_module.ip_network(value.strip(), strict=True))
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a prefix in CIDR notation ({error})") from None


def _ip_type(value: str | None) -> str | None:
    if value is not None and value not in ("ephemeral", "static"):
        raise typer.BadParameter(f"{value!r} is not an IP type: ephemeral or static")
    return value


@app.command("list")
def list_ips(
    ipaddress: Annotated[str | None, typer.Option(help="this address", rich_help_panel=FILTERS)] = None,
    network: Annotated[str | None, typer.Option(help="network id", rich_help_panel=FILTERS,
                                                autocompletion=completion.network_ids)] = None,
    project: Annotated[str | None, typer.Option(help="project id", rich_help_panel=FILTERS)] = None,
    prefix: Annotated[str | None, typer.Option(help="inside this prefix (a CIDR)", rich_help_panel=FILTERS,
                                               callback=_cidr)] = None,
    name: Annotated[str | None, typer.Option(help="name", rich_help_panel=FILTERS)] = None,
    ip_type: Annotated[str | None, typer.Option("--type", help="ephemeral or static", rich_help_panel=FILTERS,
                                                autocompletion=completion.ip_types,
                                                callback=_ip_type)] = None,
    tags: Annotated[list[str] | None, typer.Option(help="has all these tags", rich_help_panel=FILTERS)] = None,
    machineid: Annotated[str | None, typer.Option(help="machine id", rich_help_panel=FILTERS)] = None,
    allocationuuid: Annotated[str | None, typer.Option(help="allocation UUID", rich_help_panel=FILTERS)] = None,
    addressfamily: Annotated[str | None, typer.Option(
        help="IPv4 or IPv6", rich_help_panel=FILTERS, autocompletion=completion.families)] = None,
    output: Output = Format.table,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """List acquired IP addresses, sorted by address; filters must all match.

    Example: ipam network ip list --network 2d2c0350-3f66-4597-ae97-ef6797232212 --addressfamily IPv6
    """
    filters = dict(ipaddress=ipaddress, networkid=network, projectid=project, name=name,
                   type=ip_type, tags=split(tags) or None, machineid=machineid,
                   allocationuuid=allocationuuid, addressfamily=addressfamily)
    filters = {k: v for k, v in filters.items() if v is not None}
    with connect(api_url, token, None, timeout) as api:
        found = api.post("/v1/ip/find", filters) if filters else api.get("/v1/ip")
    if prefix is not None:  # metal-api's `networkprefix` is the prefix an IP came from: exact
        inside = ipaddress_module.ip_network(prefix)
        found = [ip for ip in found
                 if ipaddress_module.ip_address(ip["ipaddress"]) in inside]
    show_ips(found, output)


@app.command()
def describe(
    address: Address,
    at: Annotated[str | None, typer.Option(
        "--at", help=f"who held it at this time: {TIME_FORMS}")] = None,
    output: Annotated[Format, typer.Option(
        "-o", "--output-format", envvar="IPAM_OUTPUT", case_sensitive=False,
        help="yaml (default here, as metalctl), json, table or wide")] = Format.yaml,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Show one acquired IP address, now or as it was held at a past time.

    Example: ipam network ip describe 10.0.0.1 --at 2026-03-03T12:00:00Z
    """
    with connect(api_url, token, None, timeout) as api:
        show_ips(api.get(f"/v1/ip/{segment(address)}", at=moment(at)), output)


@app.command()
def update(
    address: Address,
    name: Annotated[str | None, typer.Option(help="new name")] = None,
    description: Annotated[str | None, typer.Option(help="new description")] = None,
    ip_type: IpType = None,
    tags: Annotated[list[str] | None, typer.Option(help="replace the tags (comma-separated or repeated)")] = None,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Update an IP address's name, description, type or tags.

    Example: ipam network ip update 10.0.0.1 --type static --tags cluster=prod
    """
    body: dict[str, Any] = {"ipaddress": address}
    for key, value in (("name", name), ("description", description), ("type", ip_type)):
        if value is not None:
            body[key] = value
    if tags is not None:
        body["tags"] = split(tags)
    if len(body) == 1:
        raise typer.BadParameter("nothing to update: give at least one of the options",
                                 param_hint="IP")
    with connect(api_url, token, reason, timeout) as api:
        show_ips(api.post("/v1/ip", body), output)


@app.command()
def delete(
    address: Address,
    output: Output = Format.table,
    reason: Reason = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    timeout: Timeout = 30.0,
) -> None:
    """Release an IP address (as metalctl's `network ip delete`); prints what was released.

    Example: ipam network ip delete 10.0.0.1 --reason "machine decommissioned"
    """
    with connect(api_url, token, reason, timeout) as api:
        show_ips(api.delete(f"/v1/ip/free/{segment(address)}"), output)
