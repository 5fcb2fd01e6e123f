"""The local commands: the server and the operator's and auditor's commands.

They open the store named by `IPAM_DATABASE_URL` (or `--database-url`) directly and need no
running server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from infrastructure.settings import default_store

if TYPE_CHECKING:
    from rich.progress import TaskID

projections_app = typer.Typer(help="Follow, rebuild and inspect the projections.", no_args_is_help=True)
audit_app = typer.Typer(help="Prove the log intact and the read models true to it.", no_args_is_help=True)

err = Console(stderr=True)
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="IPAM_DATABASE_URL",
                 help=f"the store (default: the SQLite file {default_store()})"),
]


def _hmac_key(kind: str) -> Any:
    return typer.Option(
        f"--hmac-{kind}-key", envvar=f"IPAM_HMAC_{kind.upper()}_KEY", show_default=False,
        help=f"key of metal-stack HMAC authentication of type Metal-{kind.capitalize()} "
             "(unset: that type is refused)")


HmacViewKey = Annotated[str | None, _hmac_key("view")]
HmacEditKey = Annotated[str | None, _hmac_key("edit")]
HmacAdminKey = Annotated[str | None, _hmac_key("admin")]


def _open(database_url: str | None):  # type: ignore[no-untyped-def]
    from infrastructure.store import open_ipam

    _settings(database_url)  # a wrong setting is exit 2 with its message, not a traceback
    return open_ipam(database_url)


def _settings(database_url: str | None = None) -> Any:
    """The settings from the environment; a wrong one ends the command with exit 2."""
    from infrastructure.settings import Settings

    try:
        return Settings.from_env(database_url)
    except ValueError as error:
        err.print(f"ipam: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="server processes (use PostgreSQL for more than one)")] = 1,
    database_url: DatabaseUrl = None,
    follow: Annotated[bool, typer.Option(help="follow the log into the projections in the server process")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    hmac_view_key: HmacViewKey = None,
    hmac_edit_key: HmacEditKey = None,
    hmac_admin_key: HmacAdminKey = None,
    log_format: Annotated[str | None, typer.Option(
        "--log-format", envvar="IPAM_LOG_FORMAT",
        help="text (uvicorn's lines) or json (one object per line)")] = None,
    graceful_timeout: Annotated[int, typer.Option(
        min=0, help="seconds SIGTERM gives the requests in flight to finish")] = 10,
) -> None:
    """Serve the metal-api v1 network and IP API, its OpenAPI docs (/docs) and /v1/health.

    SIGTERM stops accepting connections, lets the requests in flight finish (at most
    --graceful-timeout seconds), stops the projection follower and exits 0.

    Example: ipam serve --port 8080
    """
    import logging.config
    import signal
    import sys

    import uvicorn

    if database_url:
        os.environ["IPAM_DATABASE_URL"] = database_url
    # the server processes read the keys from their environment (never from a log or argv of
    # theirs); prefer the environment variables to the options, which `ps` shows
    for name, key in (("IPAM_HMAC_VIEW_KEY", hmac_view_key), ("IPAM_HMAC_EDIT_KEY", hmac_edit_key),
                      ("IPAM_HMAC_ADMIN_KEY", hmac_admin_key)):
        if key:
            os.environ[name] = key
    os.environ["IPAM_FOLLOW"] = "1" if follow else "0"
    from api import logs
    from infrastructure.settings import shown_url

    if log_format is not None:
        os.environ[logs.LOG_FORMAT_VARIABLE] = log_format
    try:
        chosen = logs.log_format()
    except ValueError as error:
        err.print(str(error), markup=False, highlight=False)
        raise typer.Exit(2) from None
    log_config = logs.uvicorn_log_config(chosen, log_level)
    store = f"store {shown_url(_settings().database_url)}"
    if chosen == "json":
        logging.config.dictConfig(log_config)
        logging.getLogger("ipam").info(store)
    else:
        err.print(f"ipam: {store}", markup=False, soft_wrap=True, highlight=False)
    logging_options: dict[str, Any] = {"log_config": log_config}
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler
    # it found: this one makes a shutdown that went as planned exit 0, not "killed by SIGTERM"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    made = _metrics_directory(workers)
    try:
        # no `server` header: what software answers is nobody's business
        if workers > 1:
            uvicorn.run("api.main:app", host=host, port=port, workers=workers,
                        log_level=log_level, server_header=False,
                        timeout_graceful_shutdown=graceful_timeout, **logging_options)
        else:
            from api.app import create_app

            uvicorn.run(create_app(follow=follow), host=host, port=port, log_level=log_level,
                        server_header=False, timeout_graceful_shutdown=graceful_timeout,
                        **logging_options)
    finally:
        if made is not None:
            import shutil

            shutil.rmtree(made, ignore_errors=True)


def _metrics_directory(workers: int) -> str | None:
    """Several server processes count into files in `PROMETHEUS_MULTIPROC_DIR`, which a scrape
    of any of them adds up (prometheus-client's multiprocess mode): a directory of this server's
    own unless one is given, emptied of an earlier run's counts (so a given directory belongs
    to one `ipam serve`). Returns the directory to remove afterwards (the one made here), if
    any. Set before prometheus-client is imported."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not given:  # set but empty would still switch prometheus-client to files (in the cwd)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    else:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for counts in directory.glob("*.db"):
            counts.unlink(missing_ok=True)
        return None
    if workers == 1:
        return None
    made = tempfile.mkdtemp(prefix="ipam-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


@projections_app.command("run")
def projections_run(
    database_url: DatabaseUrl = None,
    interval: Annotated[float, typer.Option(help="seconds between polls of the log")] = 0.2,
    once: Annotated[bool, typer.Option(help="catch up once and exit")] = False,
) -> None:
    """Follow the event log into every projection (a separate runner process).

    First rebuilds the projections whose code changed (as `ipam serve` does when it starts).

    Example: ipam projections run --interval 0.5
    """
    ipam = _open(database_url)
    try:
        outdated = [name for name, p in ipam.projectors.items() if p.outdated()]
        if outdated:
            err.print(f"rebuilding the projections whose code changed: {', '.join(outdated)}")
            rebuilt = ipam.upgrade_projections()
            err.print(f"rebuilt: {', '.join(rebuilt) or 'none (another process did)'}")
        while True:
            applied = {name: p.catch_up() for name, p in ipam.projectors.items()}
            if once:
                err.print("caught up: " + ", ".join(f"{k} +{v}" for k, v in applied.items()))
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        ipam.close()


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="read_models, history or chain (default: all)")] = None,
    database_url: DatabaseUrl = None,
    restart: Annotated[bool, typer.Option(help="start over instead of resuming an interrupted rebuild")] = False,
) -> None:
    """Rebuild a projection from the log into its spare tables, then switch readers to it.

    Safe while the server serves: readers keep the old tables until the new ones have caught up.
    `ipam serve` and `ipam projections run` rebuild the projections whose code changed when
    they start (`ipam projections status` shows which); this command rebuilds by hand.

    Example: ipam projections rebuild read_models
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    ipam = _open(database_url)
    try:
        names = [name] if name else list(ipam.projectors)
        unknown = [n for n in names if n not in ipam.projectors]
        if unknown:
            err.print(f"unknown projection {unknown[0]!r}; known: {', '.join(ipam.projectors)}")
            raise typer.Exit(2)
        for projection in names:
            projector = ipam.projectors[projection]
            started = time.perf_counter()
            with Progress(TextColumn(f"[bold]{projection}"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=err) as bar:
                task = bar.add_task(projection, total=None)

                def report(position: int, head: int, task: TaskID = task, bar: Progress = bar) -> None:
                    bar.update(task, completed=position, total=max(head, 1))

                applied = projector.rebuild(restart=restart, progress=report)
            seconds = time.perf_counter() - started
            rate = applied / seconds if seconds else 0.0
            err.print(f"{projection}: {applied} events in {seconds:.1f}s ({rate:,.0f}/s), live slot {projector.live}")
    finally:
        ipam.close()


@projections_app.command("status")
def projections_status(database_url: DatabaseUrl = None) -> None:
    """Show each projection's position, the log's head, the lag, any rebuild under way, the
    version of the code that built it and whether the code has changed since (the next
    `ipam serve` then rebuilds it).

    Example: ipam projections status
    """
    from rich.table import Table

    ipam = _open(database_url)
    try:
        table = Table("projection", "live slot", "position", "head", "lag", "rebuilding",
                      "version", "code changed")
        for projector in ipam.projectors.values():
            s = projector.status()
            rebuilding = f"slot {s.rebuilding} at {s.rebuild_position}" if s.rebuilding else "-"
            version = "unknown" if s.version is None else str(s.version)
            table.add_row(s.name, s.live, str(s.position), str(s.head), str(s.lag), rebuilding,
                          version, "yes" if s.code_changed else "no")
        Console().print(table)
    finally:
        ipam.close()


def backup(
    file: Annotated[Path, typer.Argument(help="where the copy goes (a new file)")],
    database_url: DatabaseUrl = None,
    force: Annotated[bool, typer.Option("--force", help="replace FILE if it exists")] = False,
) -> None:
    """Copy the SQLite store to FILE, consistent, while the server goes on writing.

    The copy is the store as it was when the backup began: open it with
    --database-url sqlite:///FILE (ipam audit verify checks it). For PostgreSQL use pg_dump;
    `ipam events export` backs up the log of any store.

    Example: ipam backup /var/backups/ipam-$(date +%F).db
    """
    import sqlite3

    from infrastructure.backup import BackupRefused
    from infrastructure.backup import backup as take_backup
    from infrastructure.settings import shown_url

    url = _settings(database_url).database_url
    try:
        result = take_backup(url, file, overwrite=force)
    except BackupRefused as refused:
        err.print(str(refused), markup=False, highlight=False)
        raise typer.Exit(2) from None
    except sqlite3.Error as error:
        err.print(f"the backup of {shown_url(url)} failed: {error}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    print(f"backed up {result.source} to {result.target}: {result.size / 2**20:.1f} MiB, "
          f"{result.pages} pages, events up to position {result.head}")


@audit_app.command("verify")
def audit_verify(
    database_url: DatabaseUrl = None,
    checkpoint: Annotated[str | None, typer.Option(
        help="POSITION:HASH from `ipam audit checkpoint`: prove the log up to it unchanged")] = None,
) -> None:
    """Replay every aggregate, recompute every read model and compare them row by row.

    Exits 0 when everything agrees, 1 with the differences when not.

    Example: ipam audit verify --checkpoint 1200:9f86d081...
    """
    from infrastructure.audit import verify, verify_checkpoint

    ipam = _open(database_url)
    try:
        failed = False
        if checkpoint is not None:
            position_text, _, expected = checkpoint.partition(":")
            if not (position_text.isascii() and position_text.isdigit()) or len(expected) != 64 \
                    or set(expected.lower()) - set("0123456789abcdef"):
                err.print("--checkpoint must be POSITION:HASH (a number and 64 hex digits)")
                raise typer.Exit(2)
            result = verify_checkpoint(ipam, int(position_text), expected)
            if result.ok:
                print(f"checkpoint {result.position}:{result.expected} holds: the log up to it is unchanged")
            else:
                failed = True
                print(f"CHECKPOINT FAILED: {result.message}")
                print(f"  expected {result.expected}\n  computed {result.actual}")
        started = time.perf_counter()
        if not ipam.app.recorder.max_notification_id():
            from infrastructure.settings import shown_url

            print(f"the store {shown_url(ipam.settings.database_url)} holds no events: nothing "
                  "to verify (is it the store you meant? --database-url, IPAM_DATABASE_URL)")
            raise typer.Exit(1)
        report = verify(ipam)
        seconds = time.perf_counter() - started
        print(f"events {report.events}, aggregates {report.aggregates}, networks {report.networks}, "
              f"ips {report.ips}, history rows {report.history_rows} "
              f"({seconds:.1f}s, {report.events / seconds if seconds else 0:,.0f} events/s)")
        print(f"head {report.head}:{report.head_hash}")
        print(f"digest {report.digest}")
        if report.ok:
            print("read models agree with the log")
        else:
            failed = True
            print(f"{len(report.differences)} difference(s):")
            for difference in report.differences:
                print(f"  - {difference}")
        if failed:
            raise typer.Exit(1)
    finally:
        ipam.close()


@audit_app.command("checkpoint")
def audit_checkpoint(database_url: DatabaseUrl = None) -> None:
    """Print POSITION:HASH of the log's head, to record somewhere else.

    Example: ipam audit checkpoint >> checkpoints.txt
    """
    from infrastructure.audit import checkpoint

    ipam = _open(database_url)
    try:
        position, head = checkpoint(ipam)
        print(f"{position}:{head}")
    finally:
        ipam.close()
