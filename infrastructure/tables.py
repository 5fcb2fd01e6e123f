"""SQL tables of the projections and of their positions.

Every projection has two slots of tables, `a` and `b`. Readers use the live slot; a rebuild
fills the other one from the log while the live one keeps serving, then switches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SLOTS = ("a", "b")

store = MetaData()

idempotency = Table(
    "ipam_idempotency",
    store,
    # uuid5 of the credential and the key (`application.writes.request_uuid`)
    Column("id", String(36), primary_key=True),
    Column("key", Text, nullable=False),
    Column("credential", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),  # the response body exactly as it was sent
    Column("created_us", BigInteger, nullable=False),  # microseconds since the epoch, UTC
    Column("expires_us", BigInteger, nullable=False, index=True),
)
"""The first answer to each idempotency key: written in the transaction of the events it
answers for, kept for `IPAM_IDEMPOTENCY_TTL`. Not domain events: never in a network's history
or the hash chain."""

control = MetaData()

positions = Table(
    "ipam_projection_positions",
    control,
    Column("name", String(64), primary_key=True),  # "<projection>:<slot>"
    Column("position", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)

slots = Table(
    "ipam_projection_slots",
    control,
    Column("projection", String(48), primary_key=True),
    Column("live", String(1), nullable=False),
    Column("rebuilding", String(1), nullable=True),  # the slot a rebuild is filling, if any
)

versions = Table(
    "ipam_projection_versions",
    control,
    Column("projection", String(48), primary_key=True),
    Column("slot", String(1), primary_key=True),
    Column("version", Integer, nullable=False),
)
"""The version of the projection's code (`Projection.version`) that created a slot's tables and
folds its rows: written for both slots when a store is created, and for the slot a rebuild fills
when it starts and again when it goes live. A slot without a row was built by 0.3.0 or earlier,
or by code whose version is otherwise unknown (new after 0.3.0: `control.create_all` creates the
table in an older store, which then has no rows)."""

BIG = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class ReadModelTables:
    networks: Table
    ips: Table


@cache
def read_model_tables(slot: str) -> ReadModelTables:
    metadata = MetaData()
    networks = Table(
        f"ipam_networks_{slot}",
        metadata,
        Column("id", Text, primary_key=True),
        Column("aggregate_id", String(36), nullable=False, unique=True),
        Column("name", Text, nullable=False),
        Column("partition_id", Text, nullable=False),
        Column("project_id", Text, nullable=False),
        Column("parent_id", Text, nullable=True),
        Column("private_super", Boolean, nullable=False),
        Column("underlay", Boolean, nullable=False),
        Column("nat", Boolean, nullable=False),
        Column("vrf", BigInteger, nullable=True),
        Column("state", Text, nullable=False),  # JSON: attributes, pools, times, version
        Index(f"ipam_networks_{slot}_project_idx", "project_id"),
        Index(f"ipam_networks_{slot}_parent_idx", "parent_id"),
    )
    ips = Table(
        f"ipam_ips_{slot}",
        metadata,
        Column("address", String(64), primary_key=True),
        Column("sort_key", String(40), nullable=False),
        Column("network_id", Text, nullable=False),
        Column("project_id", Text, nullable=False),
        Column("allocation_uuid", String(36), nullable=False),
        Column("name", Text, nullable=False),
        Column("type", String(16), nullable=False),
        Column("family", String(4), nullable=False),
        Column("prefix", String(64), nullable=False),
        Column("machine_id", Text, nullable=False),
        Column("document", Text, nullable=False),  # JSON: the IP's public state
        Index(f"ipam_ips_{slot}_network_idx", "network_id", "sort_key"),
        # a network's IPs of one project in address order: the pages and count of a principal
        # bound to projects (new after 0.2.0: `readmodel.add_missing_indexes` builds it in the
        # live slot of an older store)
        Index(f"ipam_ips_{slot}_network_project_idx", "network_id", "project_id", "sort_key"),
        Index(f"ipam_ips_{slot}_project_idx", "project_id"),
        Index(f"ipam_ips_{slot}_allocation_idx", "allocation_uuid"),
        Index(f"ipam_ips_{slot}_sort_idx", "sort_key"),
    )
    return ReadModelTables(networks=networks, ips=ips)


@dataclass(frozen=True)
class HistoryTables:
    events: Table
    scopes: Table


@cache
def history_tables(slot: str) -> HistoryTables:
    metadata = MetaData()
    events = Table(
        f"ipam_history_{slot}",
        metadata,
        Column("position", BIG, primary_key=True, autoincrement=False),
        Column("aggregate_id", String(36), nullable=False),
        Column("network_id", Text, nullable=False),
        Column("version", BIG, nullable=False),
        Column("type", String(64), nullable=False),
        Column("time_us", BigInteger, nullable=False),  # microseconds since the epoch, UTC
        Column("address", String(64), nullable=True),  # IP events: the address
        Column("record", Text, nullable=False),  # JSON: the event as the history API shows it
        Index(f"ipam_history_{slot}_aggregate_idx", "aggregate_id", "position"),
        Index(f"ipam_history_{slot}_address_idx", "address", "position"),
        Index(f"ipam_history_{slot}_time_idx", "time_us"),
    )
    scopes = Table(
        f"ipam_history_scopes_{slot}",
        metadata,
        Column("position", BIG, nullable=False),
        Column("family", Integer, nullable=False),  # 4 or 6
        Column("low", String(32), nullable=False),  # first address, 32 hex digits
        Column("high", String(32), nullable=False),  # last address, 32 hex digits
        Index(f"ipam_history_scopes_{slot}_range_idx", "family", "low", "high"),
        Index(f"ipam_history_scopes_{slot}_position_idx", "position"),
    )
    return HistoryTables(events=events, scopes=scopes)


@cache
def chain_table(slot: str) -> Table:
    return Table(
        f"ipam_event_hashes_{slot}",
        MetaData(),
        Column("position", BIG, primary_key=True, autoincrement=False),
        Column("hash", String(64), nullable=False),
    )
