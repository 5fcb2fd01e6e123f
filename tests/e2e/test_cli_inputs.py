"""The times the client commands take (`--at`, `--since`, `--until`): an RFC 3339 time, a date
(the start of that day in UTC) or a duration back from now; anything else is a usage error
naming the forms. Read by `moment` directly and through the commands against a live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from api.cli.inputs import moment
from tests.e2e.conftest import Cli, unique

FORMS = ("an RFC 3339 time (2026-03-03T12:00:00Z), a date (2026-03-03: the start of that day in "
         "UTC) or a time ago (30s, 15m, 2h, 3d, 1w, 1d12h)")


def ago(text: str) -> tuple[timedelta, timedelta]:
    """How long before now `moment` puts a duration: at least and at most, as read between two
    clock reads."""
    before = datetime.now(UTC)
    parsed = moment(text)
    after = datetime.now(UTC)
    assert parsed is not None
    when = datetime.fromisoformat(parsed)
    assert when.tzinfo is not None
    return before - when, after - when


# -- the forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-03T12:00:00Z", "2026-03-03T12:00:00+00:00"),
    ("2026-03-03T12:00:00.25+01:00", "2026-03-03T12:00:00.250000+01:00"),
    ("2026-03-03 12:00:00-05:00", "2026-03-03T12:00:00-05:00"),
    ("2026-03-03t12:00:00z", "2026-03-03T12:00:00+00:00"),
    (" 2026-03-03T12:00Z ", "2026-03-03T12:00:00+00:00"),
])
def test_an_rfc_3339_time_keeps_its_offset(text: str, expected: str) -> None:
    assert moment(text) == expected


def test_a_date_is_the_start_of_that_day_in_utc() -> None:
    assert moment("2026-03-03") == "2026-03-03T00:00:00+00:00"
    assert moment("2024-02-29") == "2024-02-29T00:00:00+00:00"


@pytest.mark.parametrize(("text", "length"), [
    ("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
    ("3d", timedelta(days=3)), ("1w", timedelta(weeks=1)), ("1d12h", timedelta(hours=36)),
    ("1w2d3h4m5s", timedelta(days=9, hours=3, minutes=4, seconds=5)), (" 2H ", timedelta(hours=2)),
    ("0s", timedelta(0)),
])
def test_a_duration_is_that_long_before_now(text: str, length: timedelta) -> None:
    least, most = ago(text)
    assert least <= length <= most


@pytest.mark.parametrize("text", [
    "yesterday", "now", "March", "", "1700000000", "2h ago", "-2h", "1.5h", "2", "h", "1y", "1mo",
    "2026-13-01", "2026-02-30", "2026-03-03T25:00:00Z", "20260303", "2026-03-03T12:00:00Zjunk",
    "2026-W10-2",
])
def test_anything_else_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(typer.BadParameter) as refused:
        moment(text, "--since")
    assert refused.value.message == f"{text!r} is not {FORMS}"
    assert refused.value.param_hint == "'--since'"


def test_a_time_without_an_offset_says_how_to_add_one() -> None:
    with pytest.raises(typer.BadParameter) as refused:
        moment("2026-03-03T12:00:00")
    assert "has no offset; add Z for UTC or +HH:MM, e.g. 2026-03-03T12:00:00Z" in refused.value.message


def test_a_duration_before_the_year_1_is_refused() -> None:
    with pytest.raises(typer.BadParameter) as refused:
        moment("999999999999w")
    assert "reaches back before the year 1" in refused.value.message


def test_no_time_is_none() -> None:
    assert moment(None) is None


# -- through the commands --------------------------------------------------------------------


def test_history_since_and_until_take_durations_and_dates(cli: Cli) -> None:
    network_id = unique("times")
    cli.ok("network", "create", "--id", network_id, "--prefixes", "10.240.0.0/24")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()

    def types(*args: str) -> list[str]:
        return [e["type"] for e in cli.json("history", "network", network_id, *args)]

    assert types("--since", "1h") == ["NetworkCreated", "PrefixAdded"]
    assert types("--since", "2000-01-01", "--until", tomorrow) == ["NetworkCreated", "PrefixAdded"]
    assert types("--until", "1h") == []
    assert types("--since", tomorrow) == []


def test_at_takes_a_duration_and_a_date(cli: Cli) -> None:
    network_id = unique("then")
    cli.ok("network", "create", "--id", network_id, "--prefixes", "10.241.0.0/24")
    ip = cli.json("network", "ip", "create", "--network", network_id, "--project", "p")["ipaddress"]
    assert "did not exist at" in cli.fails(1, "network", "describe", network_id, "--at", "1d")
    assert f'network with id "{network_id}" did not exist at 2000-01-01T00:00:00+00:00' in cli.fails(
        1, "network", "describe", network_id, "--at", "2000-01-01")
    assert cli.json("network", "describe", network_id, "--at", "0s")["prefixes"] == ["10.241.0.0/24"]
    assert cli.json("network", "list", "--id", network_id, "--at", "1w") == []
    assert [n["id"] for n in cli.json("network", "list", "--id", network_id, "--at", "0s")] == [network_id]
    assert "(HTTP 404)" in cli.fails(1, "network", "ip", "describe", ip, "--at", "2h")
    assert cli.json("network", "ip", "describe", ip, "--at", "0s")["ipaddress"] == ip


@pytest.mark.parametrize(("option", "command"), [
    ("--since", ("history", "network", "n")), ("--until", ("history", "ip", "10.0.0.1")),
    ("--since", ("history", "prefix", "10.0.0.0/8")), ("--at", ("network", "list")),
    ("--at", ("network", "describe", "n")), ("--at", ("network", "ip", "describe", "10.0.0.1")),
])
def test_every_time_option_refuses_other_text_with_exit_2(
    cli: Cli, option: str, command: tuple[str, ...],
) -> None:
    message = cli.fails(2, *command, option, "yesterday")
    assert f"Invalid value for '{option}': 'yesterday' is not {FORMS}" in message


@pytest.mark.parametrize("command", [
    ("history", "network"), ("network", "list"), ("network", "describe"), ("network", "ip", "describe"),
])
def test_help_names_the_forms_and_that_a_date_is_utc(cli: Cli, command: tuple[str, ...]) -> None:
    text = " ".join(cli.ok(*command, "--help").stdout.replace("│", " ").split())
    assert "a date (2026-03-03: the start of that day in UTC)" in text
    assert "a time ago (30s, 15m, 2h, 3d, 1w, 1d12h)" in text
