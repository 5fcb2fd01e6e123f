"""Audit jobs: verify the log against the read models, checkpoints of the hash chain, export.

`verify` replays every aggregate from its events alone (no snapshot, no cache), folds the whole
log into every projection in memory with the projections' own code, and compares the result
with the stored tables row by row. A digest over the recomputed rows lets two runs, or two
copies of the store, be compared at a glance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from sqlalchemy import select

from application.views import network_document, network_view
from domain.network import Network
from domain.versions import type_name
from infrastructure.chain import GENESIS, link, read_log
from infrastructure.history import context_of, facts_of, microseconds, rfc3339
from infrastructure.projection import HANDLERS as READ_MODEL_HANDLERS
from infrastructure.projection import Batch
from infrastructure.readrows import NetworkState, decode_ip
from infrastructure.store import Ipam
from infrastructure.tables import chain_table, history_tables, read_model_tables


@dataclass
class Report:
    """What `verify` found."""

    events: int = 0
    aggregates: int = 0
    networks: int = 0
    ips: int = 0
    history_rows: int = 0
    head: int = 0
    head_hash: str = GENESIS
    digest: str = ""
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def verify(ipam: Ipam, *, limit: int = 50) -> Report:
    """Replay the whole log and compare every read model with what it should hold.

    Catches the projections up first, so only real disagreements remain. Differences beyond
    `limit` are counted, not listed.
    """
    for projector in ipam.projectors.values():
        projector.catch_up()
    app = ipam.app
    report = Report()
    aggregates: dict[UUID, Aggregate | None] = {}
    batch = Batch(None, read_model_tables(ipam.projection.live))
    history: dict[int, dict[str, Any]] = {}
    names: dict[str, str] = {}
    chain = GENESIS
    chain_by_position: dict[int, str] = {}
    for notification in read_log(app.recorder):
        event: Any = app.mapper.to_domain_event(notification)
        report.events += 1
        report.head = notification.id
        chain = link(chain, notification)
        chain_by_position[notification.id] = chain
        aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))
        handler = READ_MODEL_HANDLERS.get(type(event))
        if handler is not None:
            handler(batch, event)
        if isinstance(event, Network.Event):
            aggregate_id = str(event.originator_id)
            if isinstance(event, Network.NetworkCreated | Network.NetworkRecreated):
                names[aggregate_id] = event.network_id
            history[notification.id] = {
                "position": notification.id, "network": names[aggregate_id],
                "aggregate_id": aggregate_id, "version": event.originator_version,
                "time": rfc3339(event.timestamp), "type": type_name(type(event)),
                **context_of(event), "facts": facts_of(event),
                "_time_us": microseconds(event.timestamp),
            }
    report.head_hash = chain
    report.aggregates = len(aggregates)

    def differ(message: str) -> None:
        if len(report.differences) < limit:
            report.differences.append(message)
        elif len(report.differences) == limit:
            report.differences.append("... more differences not listed")

    # aggregates: the state replayed from events alone equals the one the repository rebuilds
    # from its newest snapshot and the events after it (no cache)
    for originator_id, replayed in aggregates.items():
        if isinstance(replayed, Network):
            loaded: Network = app.repository.get(originator_id, version=replayed.version)
            if network_view(loaded) != network_view(replayed) or loaded.ips != replayed.ips:
                differ(f"network {replayed.network_id}: loaded state differs from its replayed events")

    # read models
    tables = read_model_tables(ipam.projection.live)
    with ipam.projection.engine.connect() as conn:
        stored_networks = {r.aggregate_id: r for r in conn.execute(select(tables.networks))}
        stored_ips = {r.address: decode_ip(r.document) for r in conn.execute(select(tables.ips))}
    expected_networks = {aid: s for aid, s in batch.networks.items() if s is not None and not s.deleted}
    report.networks = len(expected_networks)
    for aid in sorted(set(stored_networks) | set(expected_networks)):
        want, got = expected_networks.get(aid), stored_networks.get(aid)
        if want is None:
            differ(f"read model has network row {got.id} that the log does not hold")  # type: ignore[union-attr]
        elif got is None:
            differ(f"read model lacks network {want.attrs['network_id']}")
        elif _document(NetworkState.from_row(aid, got.state)) != _document(want):
            differ(f"read model row of network {want.attrs['network_id']} differs from the log")
    expected_ips = {a: d for a, d in batch.ips.items() if d is not None}
    report.ips = len(expected_ips)
    for address in sorted(set(stored_ips) | set(expected_ips)):
        if stored_ips.get(address) != expected_ips.get(address):
            state = "lacks" if address not in stored_ips else (
                "has an extra" if address not in expected_ips else "differs on")
            differ(f"read model {state} ip {address}")

    # history
    history_live = history_tables(ipam.projectors["history"].live)
    with ipam.projection.engine.connect() as conn:
        stored_history = {r.position: r for r in conn.execute(select(history_live.events))}
        stored_chain = {
            r.position: r.hash
            for r in conn.execute(select(chain_table(ipam.projectors["chain"].live)))
        }
    report.history_rows = len(history)
    for position in sorted(set(stored_history) | set(history)):
        want_row, got_row = history.get(position), stored_history.get(position)
        if want_row is None or got_row is None:
            differ(f"history {'lacks' if got_row is None else 'has an extra'} event at position {position}")
            continue
        expected = {k: v for k, v in want_row.items() if k != "_time_us"}
        if json.loads(got_row.record) != expected or got_row.time_us != want_row["_time_us"]:
            differ(f"history row at position {position} differs from the log")
    for position in sorted(set(stored_chain) | set(chain_by_position)):
        if stored_chain.get(position) != chain_by_position.get(position):
            differ(f"hash chain differs at position {position}")
            break

    digest = hashlib.sha256()
    for aid in sorted(expected_networks):
        digest.update(_canonical(_document(expected_networks[aid])).encode())
    for address in sorted(expected_ips):
        digest.update(_canonical(expected_ips[address]).encode())
    digest.update(chain.encode())
    report.digest = digest.hexdigest()
    return report


def _document(state: NetworkState) -> dict[str, Any]:
    return network_document(state.attrs, state.pools.values(), state.created, state.changed, state.version)


def checkpoint(ipam: Ipam) -> tuple[int, str]:
    """The head position and the running hash there, recomputed from the log.

    Catches the chain projection up first, so the hash of every position up to the checkpoint
    is recorded and a later `verify_checkpoint` can name the first event that was changed.
    """
    ipam.projectors["chain"].catch_up()
    chain, position = GENESIS, 0
    for notification in read_log(ipam.app.recorder):
        chain, position = link(chain, notification), notification.id
    return position, chain


@dataclass(frozen=True)
class CheckpointResult:
    ok: bool
    position: int
    expected: str
    actual: str
    first_difference: int | None = None  # position of the first event whose hash changed
    message: str = ""


def verify_checkpoint(ipam: Ipam, position: int, expected: str) -> CheckpointResult:
    """Prove the log up to `position` unchanged since the checkpoint `position:expected`."""
    chain_projector = ipam.projectors["chain"]
    chain_projector.catch_up()
    table = chain_table(chain_projector.live)
    with ipam.projection.engine.connect() as conn:
        recorded: dict[int, str] = {
            row.position: row.hash
            for row in conn.execute(
                select(table.c.position, table.c.hash).where(table.c.position <= position)
            )
        }
    chain, last, first_difference = GENESIS, 0, None
    for notification in read_log(ipam.app.recorder, stop=position):
        chain, last = link(chain, notification), notification.id
        if first_difference is None and recorded.get(last) not in (None, chain):
            first_difference = last
    if last != position:
        return CheckpointResult(False, position, expected, chain, None,
                                f"the log has no event at position {position} (last is {last})")
    if chain == expected.lower():
        return CheckpointResult(True, position, expected, chain)
    message = "the log up to the checkpoint has changed"
    if first_difference is not None:
        message += f"; the first event that differs is at position {first_difference}"
    return CheckpointResult(False, position, expected, chain, first_difference, message)
