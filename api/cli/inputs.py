"""What the client commands read: `k=v` labels, comma-separated lists, times, network files."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer


def split(values: list[str] | None) -> list[str]:
    """A repeatable option whose values may also be comma-separated: `--tags a,b --tags c`."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def labels(values: list[str] | None, option: str = "--labels") -> dict[str, str]:
    """`k=v,k2=v2` (repeatable) as a mapping; a part without `=` is a usage error."""
    result: dict[str, str] = {}
    for part in split(values):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{part!r} is not key=value", param_hint=f"'{option}'")
        result[key.strip()] = value.strip()
    return result


UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
         "m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_DURATION = re.compile(r"(?:\d+[wdhms])+")
_PART = re.compile(r"(\d+)([wdhms])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?")
TIME_FORMS = ("an RFC 3339 time (2026-03-03T12:00:00Z), a date (2026-03-03: the start of that "
              "day in UTC) or a time ago (30s, 15m, 2h, 3d, 1w, 1d12h)")


def duration(text: str) -> timedelta | None:
    """`30s`, `15m`, `2h`, `3d`, `1w` or a sum like `1w2d` or `1d12h` (m is minutes); None when
    the text is not one."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        return None
    try:
        return sum((int(n) * UNITS[u] for n, u in _PART.findall(compact)), timedelta())
    except OverflowError:
        return timedelta.max


def moment(value: str | None, option: str = "--at") -> str | None:
    """A time as the server expects it (RFC 3339 with its offset), from what a user types:
    an RFC 3339 time with `Z` or `+01:00`, a date (the start of that day in UTC), or a
    duration meaning that long before now. Anything else is a usage error naming the forms."""
    if value is None:
        return None
    hint = f"'{option}'"
    text = value.strip().upper()
    parsed: datetime | None = None
    try:
        if _DATE_TIME.fullmatch(text):
            parsed = datetime.fromisoformat(text)
        elif _DATE.fullmatch(text):
            parsed = datetime.fromisoformat(text).replace(tzinfo=UTC)
        elif (ago := duration(text)) is not None:
            parsed = datetime.now(UTC) - ago
    except ValueError:  # a month 13, a day 32
        parsed = None
    except OverflowError:
        raise typer.BadParameter(f"{value!r} reaches back before the year 1", param_hint=hint) from None
    if parsed is None:
        raise typer.BadParameter(f"{value!r} is not {TIME_FORMS}", param_hint=hint)
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} has no offset; add Z for UTC or +HH:MM, e.g. {_example(parsed)}",
            param_hint=hint,
        )
    return parsed.isoformat()


def _example(parsed: datetime) -> str:
    return parsed.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def documents(path: str) -> tuple[list[dict[str, Any]], bool]:
    """The networks in a YAML or JSON file (`-` reads standard input): one mapping, a list of
    them, or several YAML documents; and whether it was a single mapping. Anything else is a
    usage error naming the file."""
    hint = "'-f' / '--file'"
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise typer.BadParameter(f"cannot read {path}: {error.strerror or error}", param_hint=hint) from None
    except UnicodeDecodeError:
        raise typer.BadParameter(f"{path} is not UTF-8 text", param_hint=hint) from None
    import yaml  # only the commands that read a file need it

    try:
        loaded = [d for d in yaml.safe_load_all(text) if d is not None]  # JSON is YAML too
    except yaml.YAMLError as error:
        raise typer.BadParameter(f"{path} does not parse as YAML or JSON: {error}", param_hint=hint) from None
    found: list[dict[str, Any]] = []
    for doc in loaded:
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if not isinstance(item, dict):
                raise typer.BadParameter(
                    f"{path}: entry {len(found) + 1} is not a network (a mapping of fields), "
                    f"but {type(item).__name__} {str(item)[:60]!r}", param_hint=hint)
            try:
                found.append(plain(item))
            except (TypeError, ValueError):
                raise typer.BadParameter(f"{path}: entry {len(found) + 1} has a key that is not "
                                         "text", param_hint=hint) from None
    if not found:
        raise typer.BadParameter(f"{path} holds no network", param_hint=hint)
    return found, len(loaded) == 1 and isinstance(loaded[0], dict)


def plain(document: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: YAML's dates and other scalars become strings, keys become strings."""
    result: dict[str, Any] = json.loads(json.dumps(document, default=str, ensure_ascii=False))
    return result
