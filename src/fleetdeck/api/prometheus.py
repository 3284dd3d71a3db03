"""`GET /metrics`: every host's latest values in Prometheus' text format, for a Prometheus (or
anything that scrapes it) beside fleetdeck.

Each stored series (`tsdb/series.py`) is a gauge named for Prometheus, with the host's agent id
in `host` and a labelled family's label under its own name (`mountpoint`, `interface`, ...).
The values are the latest report's, so a scrape costs no database read. Callers see the hosts
they may read (`metrics:read`, host groups honoured); the server's own figures (agents, store,
its process) only with `metrics:read` on every host.

prometheus-client is imported with the first scrape (about 0.6 MB): a server nobody scrapes
never loads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from fleetdeck import __version__
from fleetdeck.api.deps import GroupsDep, HubDep, MonitorDep, require_any_host
from fleetdeck.auth.service import Principal
from fleetdeck.clock import parse_time
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.tsdb import series

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from fleetdeck.fleet.hub import Hub
    from fleetdeck.tsdb.engine import TimeSeriesStore

router = APIRouter(tags=["metrics"])

# Stored series -> (Prometheus name, label name of a labelled family). A test holds every
# series in tsdb/series.py to an entry here.
NAMES: dict[str, tuple[str, str | None]] = {
    "cpu": ("fleetdeck_cpu_usage_percent", None),
    "memory": ("fleetdeck_memory_usage_percent", None),
    "swap": ("fleetdeck_swap_usage_percent", None),
    "load1": ("fleetdeck_load1", None),
    "load5": ("fleetdeck_load5", None),
    "load15": ("fleetdeck_load15", None),
    "processes": ("fleetdeck_processes", None),
    "disk": ("fleetdeck_filesystem_usage_percent", "mountpoint"),
    "disk.read": ("fleetdeck_disk_read_bytes_per_second", "device"),
    "disk.write": ("fleetdeck_disk_write_bytes_per_second", "device"),
    "net.rx": ("fleetdeck_network_receive_bytes_per_second", "interface"),
    "net.tx": ("fleetdeck_network_transmit_bytes_per_second", "interface"),
    "temp": ("fleetdeck_temperature_celsius", "sensor"),
    "gpu.util": ("fleetdeck_gpu_utilization_percent", "gpu"),
    "gpu.memory": ("fleetdeck_gpu_memory_usage_percent", "gpu"),
    "container.cpu": ("fleetdeck_container_cpu_usage_percent", "container"),
    "container.memory": ("fleetdeck_container_memory_bytes", "container"),
}
SCALE = {"container.memory": float(series.MIB)}  # stored in MiB; Prometheus wants bytes
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Fleet:
    """A prometheus-client collector over what the server holds at the moment of a scrape."""

    def __init__(self, hosts: list[tuple[str, bool, dict[str, Any] | None]]) -> None:
        self.hosts = hosts  # (host, online, latest snapshot): snapshots are replaced, not changed

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(
            "fleetdeck_host_up", "1 while the host reports, 0 once it missed three", labels=["host"]
        )
        seen = GaugeMetricFamily(
            "fleetdeck_host_last_report_timestamp_seconds",
            "When the host's latest report was taken (Unix seconds)",
            labels=["host"],
        )
        families: dict[str, GaugeMetricFamily] = {}
        for host, online, snapshot in self.hosts:
            up.add_metric([host], 1.0 if online else 0.0)
            if snapshot is None:
                continue
            taken = _seconds(snapshot.get("timestamp"))
            if taken is not None:
                seen.add_metric([host], taken)
            for key, value in series.from_snapshot(snapshot):
                name = series.family(key)
                prom, label = NAMES[name]
                family = families.get(name)
                if family is None:
                    metric = series.METRICS[name]
                    unit = f", in {metric.unit}" if metric.unit else ""
                    unit = ", in bytes" if name in SCALE else unit
                    help_text = metric.description + unit
                    labels = ["host"] if label is None else ["host", label]
                    family = families[name] = GaugeMetricFamily(prom, help_text, labels=labels)
                labels_of = [host] if label is None else [host, key[len(name) + 1 : -1]]
                family.add_metric(labels_of, value * SCALE.get(name, 1.0))
        yield up
        yield seen
        yield from families.values()


def _seconds(stamp: object) -> float | None:
    """A snapshot's RFC 3339 `timestamp` as Unix seconds."""
    if not isinstance(stamp, str):
        return None
    try:
        return parse_time(stamp).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class _Server:
    """The server's own figures, read on the event loop before the exposition is built."""

    online: int
    offline: int
    samples_ingested: int
    series: int
    last_backup: float | None  # the newest scheduled archive's time; None when not scheduled

    @classmethod
    def of(cls, hub: Hub, tsdb: TimeSeriesStore | None, backup_dir: Path | None) -> _Server:
        online = sum(1 for a in hub.states if hub.status(a) == "online")
        ingested, known = (tsdb.samples_ingested, tsdb.series_count) if tsdb else (0, 0)
        last_backup = None
        if backup_dir is not None:
            from fleetdeck.backup_schedule import newest

            last_backup = newest(backup_dir) or 0.0
        return cls(online, len(hub.states) - online, ingested, known, last_backup)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            InfoMetricFamily,
        )

        yield InfoMetricFamily(
            "fleetdeck_build", "fleetdeck's version", value={"version": __version__}
        )
        agents = GaugeMetricFamily(
            "fleetdeck_agents", "Approved agents by status", labels=["status"]
        )
        agents.add_metric(["online"], self.online)
        agents.add_metric(["offline"], self.offline)
        yield agents
        yield CounterMetricFamily(
            "fleetdeck_samples_ingested",
            "Samples accepted by the time-series store since the server started",
            value=self.samples_ingested,
        )
        yield GaugeMetricFamily(
            "fleetdeck_series", "Series the time-series store knows", value=self.series
        )
        if self.last_backup is not None:
            yield GaugeMetricFamily(
                "fleetdeck_backup_last_timestamp_seconds",
                "When the newest scheduled backup was written (0: none yet)",
                value=self.last_backup,
            )


def _hosts(
    principal: Principal, monitor: Any, hub: Hub, index: Any
) -> list[tuple[str, bool, dict[str, Any] | None]]:
    everywhere = principal.can("metrics:read")

    def allowed(host: str) -> bool:
        return everywhere or principal.can_on("metrics:read", index.of(host))

    hosts: list[tuple[str, bool, dict[str, Any] | None]] = []
    if allowed(LOCAL_AGENT_ID):
        hosts.append((LOCAL_AGENT_ID, True, monitor.latest))
    for agent_id in sorted(hub.states):
        if allowed(agent_id):
            hosts.append((agent_id, hub.status(agent_id) == "online", hub.latest(agent_id)))
    return hosts


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(
    request: Request,
    monitor: MonitorDep,
    hub: HubDep,
    index: GroupsDep,
    principal: Annotated[Principal, Depends(require_any_host("metrics:read"))],
) -> Response:
    """Every host's latest values (`host` label: its agent id) as Prometheus gauges, with
    `fleetdeck_host_up`; with `metrics:read` on every host also the server's own figures
    (agents, store, its process). Scrape with an API token holding `metrics:read`."""
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fleet(_hosts(principal, monitor, hub, index)))
    if principal.can("metrics:read"):
        backup_dir = request.app.state.settings.backup_dir
        registry.register(_Server.of(hub, monitor.tsdb, backup_dir))
        ProcessCollector(namespace="fleetdeck", registry=registry)
    # Off the event loop: a thousand hosts take a third of a second to write out, which would
    # hold up every agent's report and live stream meanwhile.
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE)
