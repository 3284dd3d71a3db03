"""The server's own host: collect at the refresh interval and publish each snapshot once."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from fleetdeck import sse
from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.bus.memory import MemoryBus
from fleetdeck.collect.host import HostCollector
from fleetdeck.fleet.groups import GroupIndex
from fleetdeck.fleet.summary import FLEET_TOPIC, summary_frame
from fleetdeck.tsdb.engine import TimeSeriesStore

log = logging.getLogger(__name__)

LOCAL_AGENT_ID = "local"
METRICS_TOPIC = "metrics.local"


class LocalMonitor:
    """Runs the host collector on a fixed schedule (no drift) and publishes SSE frames.

    The snapshot is serialised once per tick; every stream client receives the same bytes.
    While nobody streams the host, heavy collectors run at their slower cadence.
    """

    def __init__(
        self,
        bus: MemoryBus,
        collector: HostCollector,
        interval: float,
        tsdb: TimeSeriesStore | None = None,
        evaluator: Evaluator | None = None,
        groups: GroupIndex | None = None,
    ) -> None:
        self.bus = bus
        self.collector = collector
        self.interval = interval
        self.tsdb = tsdb
        self.evaluator = evaluator
        self.groups = groups
        self.latest: dict[str, Any] | None = None
        self.latest_frame: bytes | None = None
        self.ticks = 0
        self._changed = asyncio.Event()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self._changed.set()

    @property
    def watched(self) -> bool:
        return self.bus.subscriber_count(METRICS_TOPIC) > 0

    async def tick(self) -> None:
        collected_at = int(time.time() * 1000)
        snap = await asyncio.to_thread(self.collector.snapshot, watched=self.watched)
        payload = json.dumps(snap, separators=(",", ":")).encode()
        self.latest = snap
        self.latest_frame = sse.frame("metrics", payload, event_id=int(time.time() * 1000))
        self.ticks += 1
        self.bus.publish(METRICS_TOPIC, self.latest_frame)
        if self.bus.subscriber_count(FLEET_TOPIC):
            self.bus.publish(FLEET_TOPIC, summary_frame(LOCAL_AGENT_ID, snap))
        stored = None
        if self.tsdb is not None:
            stored = await self.tsdb.ingest_snapshot(LOCAL_AGENT_ID, collected_at, snap)
        if self.evaluator is not None:
            member_of = self.groups.of(LOCAL_AGENT_ID) if self.groups else frozenset()
            changes = self.evaluator.evaluate_snapshot(
                LOCAL_AGENT_ID, snap, stored=stored, groups=member_of
            )
            if changes:
                await self.evaluator.persist(changes)

    async def run(self) -> None:
        next_at = time.monotonic()
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("local metrics tick failed")
            next_at += self.interval
            now = time.monotonic()
            if next_at < now:  # a slow tick: skip the missed slots rather than bursting
                next_at = now + self.interval
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=next_at - now)
                next_at = time.monotonic()  # interval changed: tick now, then on the new beat
            except TimeoutError:
                pass
