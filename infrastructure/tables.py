"""SQL tables of the read models and of the projection positions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

positions = Table(
    "ipam_projection_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)

networks = Table(
    "ipam_networks",
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
    Index("ipam_networks_project_idx", "project_id"),
    Index("ipam_networks_parent_idx", "parent_id"),
)

ips = Table(
    "ipam_ips",
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
    Index("ipam_ips_network_idx", "network_id", "sort_key"),
    Index("ipam_ips_project_idx", "project_id"),
    Index("ipam_ips_allocation_idx", "allocation_uuid"),
    Index("ipam_ips_sort_idx", "sort_key"),
)
