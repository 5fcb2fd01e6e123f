"""The networks' summaries the console lists big partitions from (`network_summaries`): every
network's or one parent's children's columns, scoped like `list_networks`, equal to the
documents' own fields."""

from __future__ import annotations

from application.access import Principal
from application.context import RequestContext
from application.service import IpamApplication
from domain.token import Role
from tests.conftest import new_network

KEYS = ("network_id", "name", "partition_id", "project_id", "parent_id", "private_super", "vrf")


def test_summaries_equal_the_documents_fields_and_filter_by_parent(
    app: IpamApplication, ctx: RequestContext
) -> None:
    new_network(app, ctx, network_id="super", partition_id="p", prefixes=["10.0.0.0/16"],
                private_super=True, default_child_prefix_length={"IPv4": 24})
    new_network(app, ctx, network_id="internet", prefixes=["185.0.0.0/24"], vrf=104009)
    kids = [app.allocate_child_network(context=ctx, partition_id="p", project_id=project,
                                       name=f"kid-{i}")
            for i, project in enumerate(["a", "b", "a"])]

    summaries = app.network_summaries()
    documents = app.list_networks()
    assert summaries == [{k: d[k] for k in KEYS} for d in documents]
    children = app.network_summaries(parent_id="super")
    assert sorted(c["network_id"] for c in children) == sorted(k["network_id"] for k in kids)
    assert app.network_summaries(parent_id="internet") == []

    tenant = Principal(subject="t", role=Role.viewer, projects=frozenset({"a"}))
    seen = {s["network_id"] for s in app.network_summaries(tenant)}
    assert seen == {d["network_id"] for d in app.list_networks(principal=tenant)}
    assert {c["project_id"] for c in app.network_summaries(tenant, parent_id="super")} == {"a"}
