"""`ipam token ...`: issue, list and revoke API tokens (local: they open the store directly).

Issuing and revoking are recorded as events, with the operating-system user as the actor.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.admin import DatabaseUrl, _open
from api.cli.client import err
from api.cli.inputs import duration
from api.cli.output import Format, Output, data, emit, new_table, print_table

if TYPE_CHECKING:  # the application is imported by the commands that open the store
    from application.tokens import TokenInfo

app = typer.Typer(help="Issue, list and revoke API tokens (local: opens the store).",
                  no_args_is_help=True)


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `1w2d`, `30m`: a positive duration."""
    total = duration(text)
    if total is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 90d, 12h, 1w2d or 30m",
                                 param_hint="'--expires'")
    if total <= timedelta(0):
        raise typer.BadParameter("the duration must be positive", param_hint="'--expires'")
    if total > timedelta(days=3650):
        raise typer.BadParameter("at most 3650d; leave --expires out for a token that does not expire",
                                 param_hint="'--expires'")
    return total


def _operator() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _document(info: TokenInfo, now: datetime) -> dict[str, object]:
    return {"id": info.token_id, "subject": info.subject, "role": info.role,
            "projects": list(info.projects), "issued": info.issued_at.isoformat(),
            "issued_by": info.issued_by,
            "expires": info.expires_at.isoformat() if info.expires_at else None,
            "revoked": info.revoked_at.isoformat() if info.revoked_at else None,
            "state": info.state(now)}


def _role(value: str) -> str:
    if value not in ("viewer", "editor", "admin"):
        raise typer.BadParameter(f"{value!r} is not a role (viewer, editor, admin)")
    return value


@app.command()
def create(
    subject: Annotated[str, typer.Option(help="who uses the token: recorded as the actor of their changes")],
    role: Annotated[str, typer.Option(help="viewer, editor or admin", callback=_role)],
    project: Annotated[list[str] | None, typer.Option(
        "--project", help="bind the token to this project (repeatable; none: every project)")] = None,
    expires: Annotated[str | None, typer.Option(help="lifetime, e.g. 90d, 12h, 1w2d (default: none)")] = None,
    reason: Annotated[str | None, typer.Option(help="why: recorded with the issuance")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue a token and print its secret, once: only its digest is stored.

    Example: ipam token create --subject ci-cluster-a --role editor --project 4b9b17c4-2d7c-4190-ae95-dda44e430fa6 --expires 90d
    """
    from application.context import RequestContext
    from domain.errors import IpamError

    lifetime = parse_duration(expires) if expires is not None else None
    ipam = _open(database_url)
    try:
        try:
            info, secret = ipam.tokens.issue(
                context=RequestContext.new(actor=_operator(), reason=reason), subject=subject,
                role=role, projects=project or [], expires_in=lifetime)
        except IpamError as error:
            err.print(f"[red]Error:[/red] {data(error.message)}")
            raise typer.Exit(1) from None
        err.print(f"token {info.token_id} for {data(info.subject)} ({info.role}"
                  f"{', projects ' + data(', '.join(info.projects)) if info.projects else ', every project'}"
                  f"{', expires ' + _when(info.expires_at) if info.expires_at else ''}); "
                  "the secret is shown only now:")
        print(secret)
    finally:
        ipam.close()


@app.command("list")
def list_tokens(
    output: Output = Format.table,
    json_output: Annotated[bool, typer.Option("--json", help="the same as -o json")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List every token ever issued: id, subject, role, projects, state (never the secret).

    Example: ipam token list
    """
    ipam = _open(database_url)
    try:
        infos = ipam.tokens.list()
    finally:
        ipam.close()
    now = datetime.now(UTC)
    if json_output:
        output = Format.json
    if output in (Format.json, Format.yaml):
        emit([_document(i, now) for i in infos], output)
        return
    table = new_table(["ID", "SUBJECT", "ROLE", "PROJECTS", "ISSUED", "BY", "EXPIRES", "STATE"])
    for info in infos:
        table.add_row(data(info.token_id), data(info.subject), info.role,
                      data(",".join(info.projects) or "*"), _when(info.issued_at),
                      data(info.issued_by), _when(info.expires_at), info.state(now))
    print_table(table)


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(
        help="the token's id (from `ipam token list`), or the start of it (at least 4 "
             "characters that no other token's id starts with, e.g. the first 8), or its secret "
             "(`ipam_...`, e.g. found in a log), or - to read one of these from standard input",
        metavar="ID|PREFIX|SECRET|-")],
    reason: Annotated[str | None, typer.Option(help="why: recorded with the revocation")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token: every request with it is refused (401) from now on.

    A prefix that starts several tokens' ids is a usage error (exit 2) listing them; no token
    with that id, prefix or secret exits 1.

    Example: ipam token revoke 9d096642-bfa0-563a-baa7-9d83ec8d91b5 --reason "laptop lost"

    Example: ipam token revoke 9d096642 --reason "laptop lost"
    """
    from application.context import RequestContext
    from application.tokens import AmbiguousTokenError
    from domain.errors import InvalidRequestError, IpamError

    if token_id == "-":
        token_id = sys.stdin.readline().strip()
    ipam = _open(database_url)
    try:
        try:
            info = ipam.tokens.revoke(token_id, context=RequestContext.new(actor=_operator(), reason=reason))
        except AmbiguousTokenError as error:
            now = datetime.now(UTC)
            err.print(f"[red]Error:[/red] {len(error.candidates)} tokens' ids start with "
                      f"{data(token_id.strip())}; give more of the id:")
            for candidate in error.candidates:
                err.print(f"  {candidate.token_id}  {data(candidate.subject)}  "
                          f"{candidate.role}  {candidate.state(now)}")
            raise typer.Exit(2) from None
        except InvalidRequestError as error:
            err.print(f"[red]Error:[/red] {data(error.message)}")
            raise typer.Exit(2) from None
        except IpamError as error:
            err.print(f"[red]Error:[/red] {data(error.message)}")
            raise typer.Exit(1) from None
        err.print(f"token {info.token_id} of {data(info.subject)} revoked at "
                  f"{_when(info.revoked_at)}")
    finally:
        ipam.close()
