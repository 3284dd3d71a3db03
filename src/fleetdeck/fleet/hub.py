"""The connection hub: every connected agent, its latest report, and whether it is online.

Reports go the way of the server's own host (DESIGN.md section 4): into the time-series store,
to live streams on `metrics.<agent id>` (serialised once, and only while someone watches),
and through the alert evaluator. An agent that misses three intervals is offline: an event on
`agents.status` and the state series `host.online` = 0 for alert rules.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from fleetdeck import sse
from fleetdeck.agent import protocol
from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.bus.memory import MemoryBus
from fleetdeck.clock import utcnow
from fleetdeck.errors import Conflict
from fleetdeck.fleet.groups import GroupIndex
from fleetdeck.fleet.summary import FLEET_TOPIC, status_frame, summary_frame
from fleetdeck.store import agents
from fleetdeck.store.agents import AgentRow
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore

log = logging.getLogger(__name__)

STATUS_TOPIC = "agents.status"
MISSED_INTERVALS = 3
PERSIST_SECONDS = 30.0
ONLINE_KEY = "host.online"
# What every report adds to its states: one tuple, so the evaluator tells "the same as last
# time" by identity.
ONLINE = ((ONLINE_KEY, 1.0),)
CLOCK_SKEW_MS = 60_000
LIVE_INTERVAL = 1.0
LAG_WINDOW = 10_000


def metrics_topic(agent_id: str) -> str:
    return f"metrics.{agent_id}"


def effective_config(stored: dict[str, Any]) -> dict[str, Any]:
    """An agent's remote config: the defaults overlaid with what an administrator changed."""
    return {**protocol.DEFAULT_CONFIG, **stored}


@dataclass
class Link:
    """One open agent socket: how to send to it and close it, and the requests awaiting replies."""

    agent_id: str
    send: Callable[[bytes], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    address: str | None
    connected_at: float = field(default_factory=time.monotonic)
    waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class AgentState:
    interval: float
    online: bool = False
    last_report: float | None = None  # monotonic
    last_seen: datetime | None = None
    last_ts: int = 0
    latest: dict[str, Any] | None = None
    latest_frame: bytes | None = None
    dirty: bool = False  # last_seen not yet written to the database


class Hub:
    def __init__(
        self,
        db: Database,
        bus: MemoryBus,
        tsdb: TimeSeriesStore | None,
        evaluator: Evaluator | None,
        groups: GroupIndex,
    ) -> None:
        self.db, self.bus, self.tsdb, self.evaluator, self.groups = db, bus, tsdb, evaluator, groups
        self.links: dict[str, Link] = {}
        self.states: dict[str, AgentState] = {}
        self._approvals: dict[str, asyncio.Event] = {}
        self._watchers: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.reports = 0
        self.duplicates = 0
        # Report timestamp to stored (queryable), in ms, of the latest reports; first reports
        # of a connection apart (they may register a new host's series).
        self.lags: deque[float] = deque(maxlen=LAG_WINDOW)
        self.first_lags: deque[float] = deque(maxlen=LAG_WINDOW)

    async def load(self) -> None:
        async with self.db.read() as conn:
            rows = await agents.list_all(conn, "approved")
        for row in rows:
            interval = float(effective_config(row.config)["interval"])
            self.states[row.id] = AgentState(interval=interval, last_seen=row.last_seen)

    # -- status -------------------------------------------------------------------------

    def status(self, agent_id: str) -> str:
        state = self.states.get(agent_id)
        return "online" if state is not None and state.online else "offline"

    def last_seen(self, agent_id: str) -> datetime | None:
        state = self.states.get(agent_id)
        return None if state is None else state.last_seen

    def shown_status(self, row: AgentRow) -> str:
        """What users see: online or offline for a trusted agent, its trust state otherwise."""
        return self.status(row.id) if row.status == "approved" else row.status

    def shown_last_seen(self, row: AgentRow) -> datetime | None:
        """The latest report, this process's if any, else what the database last kept."""
        return self.last_seen(row.id) or row.last_seen

    def latest(self, agent_id: str) -> dict[str, Any] | None:
        state = self.states.get(agent_id)
        return None if state is None else state.latest

    def latest_frame(self, agent_id: str) -> bytes | None:
        state = self.states.get(agent_id)
        if state is None or state.latest is None:
            return None
        if state.latest_frame is None:
            state.latest_frame = sse.frame(
                "metrics", orjson.dumps(state.latest), event_id=state.last_ts
            )
        return state.latest_frame

    def _announce(self, agent_id: str, status: str) -> None:
        self.bus.publish(STATUS_TOPIC, orjson.dumps({"agent_id": agent_id, "status": status}))
        frame = status_frame(agent_id, status)
        for topic in (FLEET_TOPIC, metrics_topic(agent_id)):  # the overview, the host's page
            if self.bus.subscriber_count(topic):
                self.bus.publish(topic, frame)
        log.info("agent %s is %s", agent_id, status)

    # -- connections --------------------------------------------------------------------

    async def attach(self, link: Link, config: dict[str, Any]) -> None:
        """A trusted agent connected; a previous socket of the same agent is closed."""
        previous = self.links.get(link.agent_id)
        self.links[link.agent_id] = link
        state = self.states.setdefault(link.agent_id, AgentState(interval=config["interval"]))
        state.interval = float(config["interval"])
        if previous is not None:
            await previous.close(protocol.CLOSE_PROTOCOL, "replaced by a newer connection")
        if self._watchers.get(link.agent_id):
            await self._live(link.agent_id, True)

    # -- live while watched (DESIGN.md section 4) ---------------------------------------

    async def _live(self, agent_id: str, on: bool) -> None:
        try:
            await self.push(agent_id, "live", interval=LIVE_INTERVAL if on else None)
        except Exception:  # the socket is closing; the next connection is told again
            log.debug("could not tell %s to go live=%s", agent_id, on)

    async def watch(self, agent_id: str) -> None:
        """Someone streams this host: it reports every second, processes included."""
        self._watchers[agent_id] = self._watchers.get(agent_id, 0) + 1
        if self._watchers[agent_id] == 1:
            await self._live(agent_id, True)

    def unwatch(self, agent_id: str) -> None:
        """The last watcher left: back to the configured interval. Not a coroutine, because
        it runs where a stream's task is being cancelled; the message goes from its own task."""
        left = self._watchers.get(agent_id, 0) - 1
        if left > 0:
            self._watchers[agent_id] = left
            return
        self._watchers.pop(agent_id, None)
        task = asyncio.get_running_loop().create_task(self._live(agent_id, False))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def detach(self, link: Link) -> None:
        if self.links.get(link.agent_id) is link:
            del self.links[link.agent_id]
        for future in link.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the agent disconnected"))

    async def disconnect(self, agent_id: str, code: int, reason: str) -> bool:
        """Close an agent's socket now (revoke, delete). The state is forgotten too."""
        self.states.pop(agent_id, None)
        event = self._approvals.pop(agent_id, None)
        if event is not None:
            event.set()  # a pending connection wakes, rereads its record and is refused
        link = self.links.pop(agent_id, None)
        if link is None:
            return False
        await link.close(code, reason)
        return True

    async def wait_approved(self, agent_id: str, timeout: float) -> None:
        event = self._approvals.setdefault(agent_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    def approved(self, agent_id: str, config: dict[str, Any]) -> None:
        self.states.setdefault(agent_id, AgentState(interval=float(config["interval"])))
        event = self._approvals.pop(agent_id, None)
        if event is not None:
            event.set()

    # -- requests to an agent -----------------------------------------------------------

    async def request(
        self, agent_id: str, kind: str, timeout: float, **fields: Any
    ) -> tuple[dict[str, Any], float]:
        """Send `kind` and wait for the reply with the same id: (reply, round trip seconds)."""
        link = self.links.get(agent_id)
        if link is None:
            raise Conflict(f"agent {agent_id} is not connected", code="AGENT_OFFLINE")
        request_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        link.waiting[request_id] = future
        started = time.monotonic()
        try:
            await link.send(protocol.encode(kind, id=request_id, **fields))
            reply = await asyncio.wait_for(future, timeout)
        except (TimeoutError, ConnectionError) as exc:
            raise Conflict(
                f"agent {agent_id} did not answer within {timeout:g} s", code="AGENT_UNREACHABLE"
            ) from exc
        finally:
            link.waiting.pop(request_id, None)
        return reply, time.monotonic() - started

    def answer(self, link: Link, message: dict[str, Any]) -> bool:
        future = link.waiting.get(str(message.get("id")))
        if future is None or future.done():
            return False
        future.set_result(message)
        return True

    async def push(self, agent_id: str, kind: str, **fields: Any) -> bool:
        link = self.links.get(agent_id)
        if link is None:
            return False
        await link.send(protocol.encode(kind, **fields))
        return True

    def set_interval(self, agent_id: str, interval: float) -> None:
        state = self.states.get(agent_id)
        if state is not None:
            state.interval = interval

    # -- reports ------------------------------------------------------------------------

    async def report(self, agent_id: str, ts: int, snapshot: dict[str, Any]) -> bool:
        """Ingest one report; False when it was already stored (a resend after a lost ack)."""
        state = self.states.get(agent_id)
        if state is None:
            return False
        now_ms = int(time.time() * 1000)
        if ts > now_ms + CLOCK_SKEW_MS:  # the agent's clock runs ahead: file it under now
            ts = max(now_ms, state.last_ts + 1)
        if ts <= state.last_ts:
            self.duplicates += 1
            return False
        first = state.last_report is None
        # Buffered while the agent was offline: history only, not live streams or alerts.
        buffered = now_ms - ts > MISSED_INTERVALS * state.interval * 1000
        state.last_ts = ts
        stored = None
        if self.tsdb is not None:
            stored = await self.tsdb.ingest_snapshot(agent_id, ts, snapshot)
        self.reports += 1
        if not buffered:
            (self.first_lags if first else self.lags).append(time.time() * 1000 - ts)
        state.last_report, state.last_seen, state.dirty = time.monotonic(), utcnow(), True
        if not state.online:
            state.online = True
            self._announce(agent_id, "online")
        if buffered:
            return True
        state.latest, state.latest_frame = snapshot, None
        topic = metrics_topic(agent_id)
        if self.bus.subscriber_count(topic):
            frame = self.latest_frame(agent_id)
            assert frame is not None
            self.bus.publish(topic, frame)
        if self.bus.subscriber_count(FLEET_TOPIC):
            self.bus.publish(FLEET_TOPIC, summary_frame(agent_id, snapshot))
        if self.evaluator is not None:  # most reports change no alert: no await for them
            changes = self.evaluator.evaluate_snapshot(
                agent_id, snapshot, stored=stored, groups=self.groups.of(agent_id),
                extra=ONLINE,
            )  # fmt: skip
            if changes:
                await self.evaluator.persist(changes)
        return True

    # -- the watcher ---------------------------------------------------------------------

    async def sweep(self, now: float | None = None) -> list[str]:
        """Mark agents that missed three intervals offline; returns their ids."""
        now = time.monotonic() if now is None else now
        gone = []
        for agent_id, state in list(self.states.items()):
            if state.last_report is None:
                continue
            if not state.online:
                # An offline host reports nothing: its `host.online` alert is stepped here,
                # so a rule with a `for` fires once the host stayed away that long.
                if self.evaluator is not None and self.evaluator.follows(agent_id, ONLINE_KEY):
                    await self._offline(agent_id)
                continue
            if now - state.last_report > MISSED_INTERVALS * state.interval:
                state.online = False
                gone.append(agent_id)
                self._announce(agent_id, "offline")
                await self._offline(agent_id)
        if gone:
            await self.persist()
        return gone

    async def _offline(self, agent_id: str) -> None:
        if self.evaluator is None:
            return
        try:
            await self.evaluator.observe(
                agent_id, [(ONLINE_KEY, 0.0)], groups=self.groups.of(agent_id)
            )
        except Exception:
            log.exception("alert evaluation failed for %s", agent_id)

    async def persist(self) -> None:
        """Write last_seen of agents that reported since the last write, in one transaction."""
        dirty = [(a, s) for a, s in self.states.items() if s.dirty and s.last_seen]
        if not dirty:
            return
        seen = [(agent_id, state.last_seen) for agent_id, state in dirty if state.last_seen]
        for _, state in dirty:
            state.dirty = False
        try:
            async with self.db.write() as conn:
                await agents.set_last_seen(conn, seen)
        except Exception:
            for _, state in dirty:
                state.dirty = True  # written next time
            raise

    async def run(self) -> None:
        last_persist = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.sweep()
                if time.monotonic() - last_persist >= PERSIST_SECONDS:
                    last_persist = time.monotonic()
                    await self.persist()
            except Exception:
                log.exception("agent sweep failed")


def _percentile(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def stats(hub: Hub) -> dict[str, Any]:
    """What the fleet's connections do: counts, and ingest lag of the latest reports."""
    online = sum(1 for s in hub.states.values() if s.online)
    return {
        "agents": len(hub.states),
        "connected": len(hub.links),
        "online": online,
        "reports": hub.reports,
        "duplicates": hub.duplicates,
        "lag_ms": {"p50": _percentile(hub.lags, 0.5), "p99": _percentile(hub.lags, 0.99),
                   "max": _percentile(hub.lags, 1.0), "window": len(hub.lags)},
        "first_report_lag_ms": {"p50": _percentile(hub.first_lags, 0.5),
                                "p99": _percentile(hub.first_lags, 0.99),
                                "window": len(hub.first_lags)},
    }  # fmt: skip
