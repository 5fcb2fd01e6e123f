"""`ipam events export` and `ipam events import`: a log moved between stores, whole."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.console import Console

from api.cli.admin import DatabaseUrl, _open

if TYPE_CHECKING:
    from rich.progress import TaskID

app = typer.Typer(help="The event log: export it, import it into another store.", no_args_is_help=True)
err = Console(stderr=True)


@app.command("export")
def events_export(
    database_url: DatabaseUrl = None,
    since: Annotated[int, typer.Option(min=0, help="only events after this position")] = 0,
    until: Annotated[datetime | None, typer.Option(
        help="only events at or before this RFC 3339 time", formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"])] = None,
) -> None:
    """Write the event log as JSON lines to standard output: each event as stored, its
    network, who, when and why, its facts, and the running hash (format 2,
    docs/events-export.schema.json).

    Example: ipam events export --since 1200 > events.jsonl
    """
    from infrastructure.topics import UnknownTopicError
    from infrastructure.transfer import export

    ipam = _open(database_url)
    try:
        out = sys.stdout
        for record in export(ipam, since=since, until=until):
            out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        out.flush()
    except UnknownTopicError as error:  # a log written by a newer release
        err.print(f"export stopped: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        ipam.close()


def _lines(handle: TextIO) -> int:
    count = sum(1 for line in handle if line.strip())
    handle.seek(0)
    return count


@app.command("import")
def events_import(
    file: Annotated[str, typer.Argument(metavar="FILE",
                                        help="an export (JSON lines); - reads standard input")],
    database_url: DatabaseUrl = None,
) -> None:
    """Load an exported log into an empty store, checking its hash chain line by line, then
    build the projections. Every event is stored exactly as it was, so `ipam audit
    checkpoint` afterwards equals the source's.

    Example: ipam events import events.jsonl --database-url postgresql://ipam@db/ipam

    From one store into another: ipam events export | ipam events import - --database-url ...
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from infrastructure.transfer import ImportRefusedError, import_log

    try:
        handle: TextIO = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        err.print(f"cannot read {file}: {error.strerror}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    ipam = _open(database_url)
    started = time.perf_counter()
    try:
        total = None if file == "-" else _lines(handle)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err, transient=False) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, of: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=of)
                bar.update(tasks[phase], completed=done, total=of)

            report = import_log(ipam, handle, total=total, progress=progress)
    except ImportRefusedError as error:
        err.print(f"import refused: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except UnicodeDecodeError:
        err.print("import refused: the file is not UTF-8 text", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        ipam.close()
        if handle is not sys.stdin:
            handle.close()
    seconds = time.perf_counter() - started
    print(f"imported {report.events} events in {seconds:.1f} s; "
          f"checkpoint {report.head}:{report.head_hash}")
