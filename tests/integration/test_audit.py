"""Verification and tamper evidence (issue 3, items 5 and 6) on SQLite and PostgreSQL, through
the `ipam audit` commands: verify agrees on a consistent store and names what a direct SQL edit
of a read model or of a stored event changed; checkpoints prove the log up to them unchanged."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Any

import pytest
from sqlalchemy import Table, delete, select, update
from typer.testing import CliRunner, Result

from api.cli import app as cli
from domain.network import Network
from infrastructure.chain import read_log
from infrastructure.store import Ipam
from infrastructure.tables import chain_table, history_tables, read_model_tables
from tests.integration.test_projections import acquire_some, populate

runner = CliRunner()
HASH = "[0-9a-f]{64}"


def ipam_cli(db_url: str, *args: str) -> Result:
    return runner.invoke(cli, list(args), env={"IPAM_DATABASE_URL": db_url})


def digest_of(result: Result) -> str:
    found = re.search(rf"^digest ({HASH})$", result.stdout, re.MULTILINE)
    assert found, result.stdout
    return found.group(1)


def take_checkpoint(db_url: str) -> tuple[int, str]:
    result = ipam_cli(db_url, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    found = re.fullmatch(rf"(\d+):({HASH})\n", result.stdout)
    assert found, result.stdout
    return int(found.group(1)), found.group(2)


def events_table(ipam: Ipam) -> Table:
    table: Table = ipam.app.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    return table


def position_of_acquisition(ipam: Ipam, name: str) -> int:
    for notification in read_log(ipam.app.recorder):
        event: Any = ipam.app.mapper.to_domain_event(notification)
        if isinstance(event, Network.IPAcquired) and event.name == name:
            return int(notification.id)
    raise AssertionError(f"no acquisition named {name}")


def edit_stored_event(ipam: Ipam, position: int, old: bytes, new: bytes) -> None:
    """Change a stored event's bytes behind the application's back, as an intruder would."""
    table = events_table(ipam)
    with ipam.projection.engine.begin() as conn:
        state = bytes(conn.execute(select(table.c.state).where(table.c.id == position)).scalar_one())
        assert old in state
        conn.execute(update(table).where(table.c.id == position).values(state=state.replace(old, new)))


@pytest.fixture
def populated(ipam: Ipam) -> Ipam:
    populate(ipam.app)
    return ipam


# -- verify: read models against the log -----------------------------------------------------


def test_verify_exits_zero_with_a_stable_digest_on_a_consistent_store(populated: Ipam, db_url: str) -> None:
    first, second = ipam_cli(db_url, "audit", "verify"), ipam_cli(db_url, "audit", "verify")

    for result in (first, second):
        assert result.exit_code == 0, result.output
        assert "read models agree with the log" in result.stdout
        assert f"events {populated.projection.head()}, " in result.stdout
        assert "networks 4, ips 18" in result.stdout  # super, two children, plain
    assert digest_of(first) == digest_of(second)

    populated.projection.rebuild()  # the digest is of the content, not of the slot holding it
    assert digest_of(ipam_cli(db_url, "audit", "verify")) == digest_of(first)
    acquire_some(populated.app, "plain", 1)
    assert digest_of(ipam_cli(db_url, "audit", "verify")) != digest_of(first)


def _change_network_state(ipam: Ipam) -> None:
    networks = read_model_tables(ipam.projection.live_slot()).networks
    with ipam.projection.engine.begin() as conn:
        state = json.loads(conn.execute(select(networks.c.state).where(networks.c.id == "super")).scalar_one())
        state["attrs"]["description"] = "edited in SQL"
        conn.execute(update(networks).where(networks.c.id == "super").values(state=json.dumps(state)))


def _delete_ip_row(ipam: Ipam) -> None:
    ips = read_model_tables(ipam.projection.live_slot()).ips
    with ipam.projection.engine.begin() as conn:
        assert conn.execute(delete(ips).where(ips.c.address == "10.0.0.7")).rowcount == 1


def _delete_network_row(ipam: Ipam) -> None:
    networks = read_model_tables(ipam.projection.live_slot()).networks
    with ipam.projection.engine.begin() as conn:
        assert conn.execute(delete(networks).where(networks.c.id == "plain")).rowcount == 1


def _delete_history_row(ipam: Ipam) -> None:
    events = history_tables(ipam.projectors["history"].live_slot()).events
    position = position_of_acquisition(ipam, "v4-2")
    with ipam.projection.engine.begin() as conn:
        assert conn.execute(delete(events).where(events.c.position == position)).rowcount == 1


def _change_chain_hash(ipam: Ipam) -> None:
    table = chain_table(ipam.projectors["chain"].live_slot())
    with ipam.projection.engine.begin() as conn:
        conn.execute(update(table).where(table.c.position == 9).values(hash="f" * 64))


@pytest.mark.parametrize(("tamper", "difference"), [
    (_change_network_state, "read model row of network super differs from the log"),
    (_delete_ip_row, "read model lacks ip 10.0.0.7"),
    (_delete_network_row, "read model lacks network plain"),
    (_delete_history_row, "history lacks event at position "),
    (_change_chain_hash, "hash chain differs at position 9"),
])
def test_verify_exits_one_and_names_difference_after_read_model_edited_in_sql(
    populated: Ipam, db_url: str, tamper: Callable[[Ipam], None], difference: str,
) -> None:
    for projector in populated.projectors.values():
        projector.catch_up()
    tamper(populated)

    result = ipam_cli(db_url, "audit", "verify")

    assert result.exit_code == 1, result.output
    assert "1 difference(s):" in result.stdout
    assert f"  - {difference}" in result.stdout
    assert "read models agree" not in result.stdout


# -- checkpoints: the hash chain -------------------------------------------------------------


def test_checkpoint_prints_head_position_and_hash_that_verify_accepts(populated: Ipam, db_url: str) -> None:
    position, head_hash = take_checkpoint(db_url)

    assert position == populated.projection.head()
    result = ipam_cli(db_url, "audit", "verify", "--checkpoint", f"{position}:{head_hash}")
    assert result.exit_code == 0, result.output
    assert f"checkpoint {position}:{head_hash} holds" in result.stdout
    assert f"head {position}:{head_hash}" in result.stdout

    acquire_some(populated.app, "plain", 2)  # the log goes on; the old checkpoint still holds
    result = ipam_cli(db_url, "audit", "verify", "--checkpoint", f"{position}:{head_hash.upper()}")
    assert result.exit_code == 0, result.output
    assert take_checkpoint(db_url)[0] == position + 2


def test_verify_checkpoint_names_first_changed_event_after_stored_event_edited(
    populated: Ipam, db_url: str,
) -> None:
    position, head_hash = take_checkpoint(db_url)
    acquire_some(populated.app, "plain", 2)
    target = position_of_acquisition(populated, "v4-3")
    before = {json.loads(line)["position"]: json.loads(line)["hash"]
              for line in ipam_cli(db_url, "events", "export").stdout.splitlines()}

    edit_stored_event(populated, target, b'"name":"v4-3"', b'"name":"v4-X"')

    result = ipam_cli(db_url, "audit", "verify", "--checkpoint", f"{position}:{head_hash}")
    assert result.exit_code == 1, result.output
    assert "CHECKPOINT FAILED: the log up to the checkpoint has changed" in result.stdout
    assert f"the first event that differs is at position {target}" in result.stdout
    assert f"expected {head_hash}" in result.stdout
    # an earlier checkpoint still holds; the read models no longer match the edited log
    earlier = ipam_cli(db_url, "audit", "verify", "--checkpoint", f"{target - 1}:{before[target - 1]}")
    assert f"checkpoint {target - 1}:{before[target - 1]} holds" in earlier.stdout
    assert earlier.exit_code == 1 and "differs on ip 10.0.0.4" in earlier.stdout
    assert take_checkpoint(db_url) != (position + 2, before[position + 2])


@pytest.mark.parametrize("checkpoint", [
    "12", "12:", ":" + "a" * 64, "x:" + "a" * 64, "-1:" + "a" * 64, "12:" + "a" * 63,
    "12:" + "g" * 64, "12:" + "a" * 65, "\u00b2:" + "a" * 64,
])
def test_verify_exits_two_for_malformed_checkpoint(populated: Ipam, db_url: str, checkpoint: str) -> None:
    result = ipam_cli(db_url, "audit", "verify", "--checkpoint", checkpoint)

    assert result.exit_code == 2, result.output
    assert "--checkpoint must be POSITION:HASH" in result.stderr


def test_verify_checkpoint_fails_with_message_when_beyond_head(populated: Ipam, db_url: str) -> None:
    position, head_hash = take_checkpoint(db_url)

    result = ipam_cli(db_url, "audit", "verify", "--checkpoint", f"{position + 5}:{head_hash}")

    assert result.exit_code == 1, result.output
    assert f"the log has no event at position {position + 5} (last is {position})" in result.stdout


# -- export ----------------------------------------------------------------------------------

FIELDS = {"format", "position", "aggregate_id", "aggregate_type", "version", "network", "type",
          "event_version", "topic", "time", "actor", "request_id", "reason", "facts", "state", "hash"}


def export_lines(db_url: str, *args: str) -> list[dict[str, Any]]:
    result = ipam_cli(db_url, "events", "export", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_export_writes_every_event_in_order_with_the_running_hash(populated: Ipam, db_url: str) -> None:
    lines = export_lines(db_url)

    assert [line["position"] for line in lines] == list(range(1, populated.projection.head() + 1))
    assert all(set(line) == FIELDS and line["format"] == 2 for line in lines)
    assert (lines[-1]["position"], lines[-1]["hash"]) == take_checkpoint(db_url)
    table = events_table(populated)
    with populated.projection.engine.connect() as conn:
        states = {row.id: bytes(row.state) for row in conn.execute(select(table.c.id, table.c.state))}
    previous = "0" * 64  # the chain as the README documents it, from the export alone
    for line in lines:
        assert line["state"].encode() == states[line["position"]]  # stored exactly as it was
        digest = hashlib.sha256(bytes.fromhex(previous))
        digest.update(f"{line['position']}|{line['aggregate_id']}|{line['version']}|{line['topic']}|".encode())
        digest.update(line["state"].encode())
        previous = digest.hexdigest()
        assert line["hash"] == previous, line["position"]
    versions: dict[str, list[int]] = {}
    for line in lines:
        versions.setdefault(line["aggregate_id"], []).append(line["version"])
        assert line["topic"] == f"{line['aggregate_type']}.{line['type']}"  # stable names
        assert line["event_version"] == json.loads(line["state"])["class_version"] >= 1
        assert moment(line["time"]).utcoffset() == timedelta(0)
        if line["aggregate_type"] == "Network":
            assert line["network"]
        else:
            assert line["network"] is None
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    specific = [line for line in lines if line["type"] == "IPAcquired" and line["facts"]["specific"]]
    assert [line["facts"]["address"] for line in specific] == ["10.0.1.77"]
    assert specific[0]["aggregate_type"] == "Network"
    child = [line for line in lines if line["type"] == "ChildNetworkAllocated"
             and "10.0.1.77" in str(line["facts"])] or [
        line for line in lines if line["type"] == "ChildNetworkAllocated"
        and line["facts"]["child_id"] == specific[0]["network"]]
    assert child and child[0]["network"] == "super"  # the user-visible id, by aggregate
    assert (specific[0]["actor"], specific[0]["reason"]) == ("populate", "test data")
    assert len([line for line in lines if line["type"] == "IPAcquired"]) == 19


def test_export_since_skips_earlier_positions_and_continues_the_chain(populated: Ipam, db_url: str) -> None:
    full = export_lines(db_url)

    since = export_lines(db_url, "--since", "20")

    assert since == full[20:]
    assert (since[0]["position"], since[0]["hash"]) == (21, full[20]["hash"])
    assert export_lines(db_url, "--since", str(len(full))) == []
    assert ipam_cli(db_url, "events", "export", "--since", "-1").exit_code == 2


def test_export_until_stops_at_the_time(populated: Ipam, db_url: str) -> None:
    full = export_lines(db_url)
    cut = full[30]["time"]

    until = export_lines(db_url, "--until", cut)

    assert until == list(takewhile(lambda line: moment(line["time"]) <= moment(cut), full))
    assert full[30] in until and len(until) < len(full)
    assert export_lines(db_url, "--since", "10", "--until", cut) == until[10:]
    before_first = (moment(full[0]["time"]) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    assert export_lines(db_url, "--until", before_first) == []
    assert ipam_cli(db_url, "events", "export", "--until", "yesterday").exit_code == 2
