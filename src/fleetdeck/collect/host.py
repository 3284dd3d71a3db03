"""HostCollector: every collector in one snapshot, with heavy ones on a slower cadence."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import psutil

from fleetdeck.collect.base import Collector
from fleetdeck.collect.cpu import CpuCollector
from fleetdeck.collect.disk import DiskCollector
from fleetdeck.collect.docker import DockerCollector
from fleetdeck.collect.gpu import GpuCollector
from fleetdeck.collect.memory import MemoryCollector
from fleetdeck.collect.network import NetworkCollector
from fleetdeck.collect.processes import ProcessCollector
from fleetdeck.collect.sensors import TemperatureCollector
from fleetdeck.collect.system import SystemCollector
from fleetdeck.collect.systemd import SystemdCollector

log = logging.getLogger(__name__)

# The Tyto snapshot's sections, in the reference's order.
SECTIONS = (
    "system", "cpu", "memory", "disk", "network", "processes",
    "temperature", "gpu", "docker", "systemd",
)  # fmt: skip


def default_collectors(top_processes: int = 10) -> list[Collector]:
    return [
        SystemCollector(),
        CpuCollector(),
        MemoryCollector(),
        DiskCollector(),
        NetworkCollector(),
        ProcessCollector(top=top_processes),
        TemperatureCollector(),
        GpuCollector(),
        DockerCollector(),
        SystemdCollector(),
    ]


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HostCollector:
    """Builds the complete Tyto metrics structure for this host.

    A collector that fails is logged once per kind of failure and its section keeps its last
    value (or is empty), so one broken source never takes the whole snapshot down.
    """

    def __init__(self, collectors: list[Collector], heavy_interval: float = 15.0) -> None:
        self.collectors = collectors
        self.heavy_interval = heavy_interval
        self._last: dict[str, tuple[float, Any]] = {}
        self._failing: set[str] = set()

    def _run(self, collector: Collector, now: float) -> Any:
        try:
            value = collector.collect()
        except Exception:
            if collector.key not in self._failing:
                log.exception("collector %s failed; keeping its last value", collector.key)
                self._failing.add(collector.key)
            return self._last.get(collector.key, (0.0, {}))[1]
        self._failing.discard(collector.key)
        self._last[collector.key] = (now, value)
        return value

    def snapshot(self, *, watched: bool) -> dict[str, Any]:
        now = time.monotonic()
        snap: dict[str, Any] = {"timestamp": utc_timestamp()}
        for collector in self.collectors:
            cached = self._last.get(collector.key)
            fresh_enough = cached is not None and now - cached[0] < self.heavy_interval
            if collector.heavy and not watched and fresh_enough and cached is not None:
                snap[collector.key] = cached[1]
            else:
                snap[collector.key] = self._run(collector, now)
        processes = snap.get("processes")
        if isinstance(processes, dict) and processes:
            processes = dict(processes, total=len(psutil.pids()))  # cheap: one listdir of /proc
            snap["processes"] = processes
        return snap
