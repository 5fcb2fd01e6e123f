"""The service's metrics in Prometheus' text format, by prometheus-client.

Two kinds:

- **counted** by the process that served or committed something: HTTP requests and their
  durations, acquisitions, releases and child allocations (when the change is committed, from
  its events), refused allocations and failed authentications. With several server processes
  (`ipam serve --workers N`) each one writes its counts to files in `PROMETHEUS_MULTIPROC_DIR`
  (prometheus-client's multiprocess mode; `ipam serve` makes the directory), and a scrape
  answered by any of them adds up every process's files: the whole service.
- **read from the store** at each scrape, so the same whichever process answers: the event
  log's head, each projection's lag and rebuild progress, and each private super network's
  figures per family, at most `IPAM_METRICS_MAX_NETWORKS` series per metric.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from domain.network import Network

log = logging.getLogger(__name__)

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# the classic text format, which every Prometheus reads (our names need none of 1.0.0's quoting)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
FAMILIES = ("ipv4", "ipv6")
# seconds: an acquisition takes about a millisecond, a big find or an export seconds
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_mode() -> bool:
    """Whether the counts go to files shared by several server processes: prometheus-client
    decides this once, when it is first imported, by whether either spelling of the variable
    is set at all (`ipam serve` removes an empty one)."""
    return MULTIPROCESS_DIRECTORY in os.environ or MULTIPROCESS_DIRECTORY.lower() in os.environ


# no `_created` series beside every counter: nobody queries them
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "ipam_http_requests", "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"], registry=REGISTRY)
HTTP_DURATION = Histogram(
    "ipam_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"], buckets=DURATION_BUCKETS, registry=REGISTRY)
IP_ACQUISITIONS = Counter(
    "ipam_ip_acquisitions", "Addresses acquired, counted when the acquisition is committed.",
    ["family"], registry=REGISTRY)
IP_RELEASES = Counter(
    "ipam_ip_releases", "Addresses released, counted when the release is committed.",
    ["family"], registry=REGISTRY)
CHILD_ALLOCATIONS = Counter(
    "ipam_child_allocations", "Child networks carved from a super network, counted when "
    "committed, once per family of their prefixes (a dual-stack child counts for both).",
    ["family"], registry=REGISTRY)
ALLOCATION_FAILURES = Counter(
    "ipam_allocation_failures", "Acquisitions and child allocations refused, by reason: "
    "exhausted, conflict (the address asked for is taken), concurrent (lost to concurrent "
    "changes too often), overlap, not_found, forbidden, invalid, idempotency_mismatch, "
    "unprocessable.", ["reason"], registry=REGISTRY)
AUTH_FAILURES = Counter(
    "ipam_auth_failures", "Requests refused with 401 (and console sign-ins refused), by reason: "
    "missing, invalid, revoked, expired, hmac_not_configured, hmac_date, hmac_invalid.",
    ["reason"], registry=REGISTRY)

# the series a dashboard or an alert's rate() expects from the start, at 0
for _family in FAMILIES:
    for _counter in (IP_ACQUISITIONS, IP_RELEASES, CHILD_ALLOCATIONS):
        _counter.labels(family=_family)
for _reason in ("exhausted", "conflict", "concurrent"):
    ALLOCATION_FAILURES.labels(reason=_reason)
for _reason in ("missing", "invalid", "revoked", "expired"):
    AUTH_FAILURES.labels(reason=_reason)

if not multiprocess_mode():  # a process's own figures; several processes have no one figure
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)


def family_of(address: str) -> str:
    return "ipv6" if ":" in address else "ipv4"


class CommandMetrics:
    """Counts committed changes from their events, and refused allocations (the application's
    `WriteObserver`)."""

    def committed(self, events: Sequence[Any]) -> None:
        for event in events:
            if isinstance(event, Network.IPAcquired):
                IP_ACQUISITIONS.labels(family=family_of(event.address)).inc()
            elif isinstance(event, Network.IPReleased):
                IP_RELEASES.labels(family=family_of(event.address)).inc()
            elif isinstance(event, Network.ChildNetworkAllocated):
                for family in sorted({family_of(prefix) for prefix in event.prefixes}):
                    CHILD_ALLOCATIONS.labels(family=family).inc()

    def refused(self, reason: str) -> None:
        ALLOCATION_FAILURES.labels(reason=reason).inc()


class StoreMetrics:
    """The figures read from the store at each scrape. `projects`: those of a token bound to
    projects, which sees the super networks of its projects and the project-less ones, as
    everywhere else (None: every one)."""

    # events a scrape applies to the read models before it reads the network figures: a scrape
    # is answered in well under a second however far behind they are (the lag says how far)
    CATCH_UP = 2000

    def __init__(self, ipam: Any, max_networks: int,
                 projects: frozenset[str] | None = None) -> None:
        self.ipam = ipam
        self.max_networks = max_networks
        self.projects = projects

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ipam_store_up", "1 when the store answered this scrape's "
                               "reads of the log and the projections, else 0 (their figures "
                               "are then missing).")
        try:
            log_figures = list(self._log())
        except Exception:  # the store is down: the process's own counts are still worth having
            log.exception("metrics: the store did not answer")
            log_figures = []
        up.add_metric([], 1 if log_figures else 0)
        yield up
        yield from log_figures
        networks = GaugeMetricFamily(
            "ipam_network_figures_up", "1 when this scrape read the super networks' figures, "
            "else 0 (a projection that cannot apply an event, a store that went away: the "
            "ipam_network_* series are then missing; the server's log says why).")
        try:
            network_figures = list(self._networks())
        except Exception:
            log.exception("metrics: the super networks' figures could not be read")
            network_figures = []
        networks.add_metric([], 1 if network_figures else 0)
        yield networks
        yield from network_figures

    def _log(self) -> Iterator[Metric]:
        projectors = self.ipam.projectors.values()
        statuses = [projector.status() for projector in projectors]
        head = max((status.head for status in statuses), default=0)
        yield GaugeMetricFamily("ipam_event_log_head", "The position of the last event in the "
                                "log (its notification id).", value=head)
        lag = GaugeMetricFamily("ipam_projection_lag_events", "Events recorded but not yet "
                                "applied to the projection's live tables.", labels=["projection"])
        progress = GaugeMetricFamily(
            "ipam_projection_rebuild_progress", "While a projection is rebuilt (or after a "
            "rebuild was interrupted, until it is resumed): the share of the log applied to its "
            "new tables, 0 to 1.", labels=["projection"])
        for status in statuses:
            lag.add_metric([status.name], status.lag)
            if status.rebuilding is not None:
                done = (status.rebuild_position or 0) / status.head if status.head else 1.0
                progress.add_metric([status.name], min(done, 1.0))
        yield lag
        yield progress

    def _networks(self) -> Iterable[Metric]:
        # the figures as of this scrape, as a read would give them (the lag above was measured
        # before), unless the read models are far behind
        self.ipam.projection.catch_up(self.CATCH_UP)
        labels = ["network", "family"]
        info = GaugeMetricFamily("ipam_network_info", "1 for each super network shown below, "
                                 "with its partition (join on network).",
                                 labels=["network", "partition"])
        total = GaugeMetricFamily("ipam_network_total_addresses", "Addresses in the super "
                                  "network's prefixes of the family.", labels=labels)
        used = GaugeMetricFamily(
            "ipam_network_used_addresses", "Addresses of the family no longer free in the super "
            "network: in child prefixes, acquired or reserved.", labels=labels)
        free = GaugeMetricFamily(
            "ipam_network_free_child_prefixes", "Child prefixes of the family's default length "
            "that can still be carved (a family without a default length has no series).",
            labels=labels)
        documents, count = self.ipam.read_model.private_supers(self.max_networks, self.projects)
        series = shown = 0
        for document in documents:
            families = [(name, figures) for name, figures in document["capacity"].items()
                        if figures is not None]
            if series + len(families) > self.max_networks:
                break  # the first networks in id order, as many as fit: no gaps
            series += len(families)
            shown += 1
            network = document["network_id"]
            info.add_metric([network, document["partition_id"]], 1)
            for name, figures in families:
                all_addresses = int(figures["total_ips"])
                total.add_metric([network, name], float(all_addresses))
                used.add_metric([network, name],
                                float(all_addresses - int(figures["free_space"])))
                if "free_child_prefixes" in figures:
                    free.add_metric([network, name], float(int(figures["free_child_prefixes"])))
        yield from (info, total, used, free)
        yield GaugeMetricFamily(
            "ipam_metrics_networks_omitted", "Super networks left out of the ipam_network_* "
            "series by IPAM_METRICS_MAX_NETWORKS (those after the last one shown, in id "
            "order).", value=count - shown)


class _Counted:
    """This process's counts (one server process)."""

    def collect(self) -> Iterator[Metric]:
        return iter(REGISTRY.collect())


def exposition(*collectors: Any) -> bytes:
    """The text a scrape gets: the counts (every server process's in multiprocess mode, else
    this one's) and the given collectors' figures."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Counted())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
