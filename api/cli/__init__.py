"""The `ipam` command line, one tree:

- client commands that talk to a running server over HTTP (`network ...`, `network ip ...`,
  `history ...`), with metalctl's commands, flags and output formats;
- local commands that open the store directly (`serve`, `projections ...`, `audit ...`,
  `events export|import`, `token ...`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import admin, events, history, ips, networks, tokens

app = typer.Typer(
    name="ipam", no_args_is_help=True, rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Event-sourced dual-stack IPAM, speaking metal-api v1.\n\n"
         "Client commands (network, history) talk to a server: --api-url / IPAM_API_URL "
         "(default http://127.0.0.1:8080), --token / IPAM_TOKEN. Local commands (serve, "
         "projections, audit, events, token) open the store: --database-url / IPAM_DATABASE_URL.",
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"ipam {version('dualstack-ipam')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Event-sourced dual-stack IPAM, speaking metal-api v1."""


networks.app.add_typer(ips.app, name="ip")
app.add_typer(networks.app, name="network", rich_help_panel="Client (HTTP API)")
app.add_typer(history.app, name="history", rich_help_panel="Client (HTTP API)")
app.command(rich_help_panel="Local (the store)")(admin.serve)
app.command(rich_help_panel="Local (the store)")(admin.backup)
app.add_typer(admin.projections_app, name="projections", rich_help_panel="Local (the store)")
app.add_typer(admin.audit_app, name="audit", rich_help_panel="Local (the store)")
app.add_typer(events.app, name="events", rich_help_panel="Local (the store)")
app.add_typer(tokens.app, name="token", rich_help_panel="Local (the store)")


def main() -> None:
    app()


__all__ = ["app", "main"]
