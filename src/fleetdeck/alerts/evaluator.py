"""Streaming evaluation: every ingested snapshot moves the alerts of the rules it touches.

Per (rule, host, series) an alert goes pending when a level is crossed, firing once it held for
the rule's `for`, changes level while firing, and resolves once the value is back past the
threshold by the hysteresis. Only transitions are written (with their notifications, in the
same transaction); values in between stay in memory. Active alerts are reloaded at start.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.alerts.rules import BUILTIN, BUILTIN_FOR_SECONDS, BUILTIN_HYSTERESIS, LEVELS, Rule
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.notify import policy
from fleetdeck.store import alerts as store
from fleetdeck.store import notifications
from fleetdeck.store.alerts import AlertRow
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.series import family

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # rule id, agent id, series key


@dataclass(frozen=True, slots=True)
class Change:
    alert: AlertRow
    from_state: str | None
    to_state: str
    event: str | None  # notification event, or None for a silent transition


def builtin_rules() -> list[Rule]:
    return [
        Rule(
            id=rule_id,
            name=name,
            metric=metric,
            comparison=">",
            warning=warning,
            critical=critical,
            for_seconds=BUILTIN_FOR_SECONDS,
            hysteresis=BUILTIN_HYSTERESIS,
            builtin=True,
        )
        for rule_id, name, metric, warning, critical in BUILTIN
    ]


def message(alert: AlertRow, rule: Rule | None, event: str) -> dict[str, Any]:
    name = rule.name if rule else alert.rule_id
    verb = {
        "alert.firing": "is",
        "alert.level_changed": "is now",
        "alert.reminder": "is still",
        "alert.resolved": "resolved:",
    }
    text = (
        f"[{alert.level.upper()}] {name} on {alert.agent_id}: {alert.series} "
        f"{verb.get(event, 'is')} {alert.value:g} (threshold {alert.threshold:g})"
    )
    return {
        "event": event,
        "text": text,
        "alert": {
            "id": alert.id,
            "rule_id": alert.rule_id,
            "rule": name,
            "agent_id": alert.agent_id,
            "series": alert.series,
            "level": alert.level,
            "state": alert.state,
            "value": alert.value,
            "threshold": alert.threshold,
            "started_at": rfc3339(alert.started_at),
            "fired_at": rfc3339(alert.fired_at),
            "resolved_at": rfc3339(alert.resolved_at),
        },
    }


class Evaluator:
    def __init__(self, db: Database, *, on_queued: Callable[[], None] | None = None) -> None:
        self.db = db
        self.on_queued = on_queued
        self.rules: dict[str, Rule] = {}
        self._by_family: dict[str, list[Rule]] = defaultdict(list)
        self.active: dict[Key, AlertRow] = {}
        self._reminded: dict[str, datetime] = {}  # alert id -> last announcement

    async def load(self) -> None:
        """Write the built-in rules when missing; read the rules and the active alerts."""
        async with self.db.write() as conn:
            existing = {r.id for r in await store.list_rules(conn)}
            for rule in builtin_rules():
                if rule.id not in existing:
                    await store.put_rule(conn, rule)
        await self.reload_rules()
        async with self.db.read() as conn:
            for alert in await store.active(conn):
                self.active[(alert.rule_id, alert.agent_id, alert.series)] = alert

    async def reload_rules(self) -> None:
        async with self.db.read() as conn:
            rules = await store.list_rules(conn)
        self.rules = {r.id: r for r in rules}
        self._by_family = defaultdict(list)
        for rule in rules:
            self._by_family[rule.family].append(rule)

    async def observe(
        self,
        agent_id: str,
        samples: Iterable[tuple[str, float]],
        *,
        groups: frozenset[str] = frozenset(),
        now: datetime | None = None,
    ) -> list[Change]:
        now = now or utcnow()
        changes: list[Change] = []
        seen: set[Key] = set()
        for series_key, value in samples:
            for rule in self._by_family.get(family(series_key), ()):
                if rule.applies_to(agent_id, series_key, groups):
                    key = (rule.id, agent_id, series_key)
                    seen.add(key)
                    change = self._step(rule, key, value, now)
                    if change is not None:
                        changes.append(change)
        # An alert whose rule was disabled or deleted, or whose series vanished: resolve.
        for key, alert in list(self.active.items()):
            if key[1] == agent_id and key not in seen:
                known = self.rules.get(key[0])
                if known is None or not known.enabled:
                    changes.append(self._resolve(key, alert, now, silent=alert.state == "pending"))
        if changes:
            await self._persist(changes, now)
        return changes

    def _step(self, rule: Rule, key: Key, value: float, now: datetime) -> Change | None:
        level = rule.level_for(value)
        alert = self.active.get(key)
        if alert is None:
            if level is None:
                return None
            alert = AlertRow(
                id=str(uuid.uuid4()),
                rule_id=rule.id,
                agent_id=key[1],
                series=key[2],
                level=level,
                state="pending",
                value=value,
                threshold=rule.threshold(level),
                started_at=now,
            )
            self.active[key] = alert
            if rule.for_seconds <= 0:
                return self._fire(alert, now, from_state=None)
            return Change(alert, None, "pending", None)
        alert.value = value
        if alert.state == "pending":
            if level is None:
                return self._resolve(key, alert, now, silent=True)
            if level != alert.level:
                alert.level, alert.threshold = level, rule.threshold(level)
            if now - alert.started_at >= timedelta(seconds=rule.for_seconds):
                return self._fire(alert, now, from_state="pending")
            return None
        # firing
        if not rule.holds(value, alert.level):
            lower = "warning" if alert.level == "critical" else None
            if lower and rule.warning is not None and rule.holds(value, lower):
                alert.level, alert.threshold = lower, rule.threshold(lower)
                return Change(alert, "firing", "firing", "alert.level_changed")
            return self._resolve(key, alert, now, silent=False)
        if level == "critical" and alert.level == "warning":
            alert.level, alert.threshold = level, rule.threshold(level)
            return Change(alert, "firing", "firing", "alert.level_changed")
        return None

    def _fire(self, alert: AlertRow, now: datetime, *, from_state: str | None) -> Change:
        alert.state, alert.fired_at = "firing", now
        return Change(alert, from_state, "firing", "alert.firing")

    def _resolve(self, key: Key, alert: AlertRow, now: datetime, *, silent: bool) -> Change:
        del self.active[key]
        from_state = alert.state
        alert.state, alert.resolved_at = "resolved", now
        return Change(alert, from_state, "resolved", None if silent else "alert.resolved")

    async def _persist(self, changes: list[Change], now: datetime) -> None:
        queued = False
        async with self.db.write() as conn:
            channels = [c for c in await notifications.list_channels(conn) if c.enabled]
            rules = await policy.load(conn)
            for change in changes:
                await store.save_alert(conn, change.alert)
                transition = await store.add_transition(
                    conn, change.alert, change.from_state, change.to_state
                )
                if change.event == "alert.firing":
                    self._reminded[change.alert.id] = now
                wanted = change.event and (change.event != "alert.resolved" or rules.send_resolved)
                if wanted and not self._snoozed(change.alert, now):
                    queued |= await self._notify(
                        conn, channels, rules, change.alert, change.event or "", f"{transition}",
                        now,
                    )  # fmt: skip
        if queued and self.on_queued:
            self.on_queued()

    async def remind(self, now: datetime | None = None) -> int:
        """Queue a reminder for each firing, unacknowledged, unsnoozed alert not announced for
        `renotify_minutes`; returns how many."""
        now = now or utcnow()
        due: list[AlertRow] = []
        async with self.db.read() as conn:
            rules = await policy.load(conn)
        if rules.renotify_minutes <= 0:
            return 0
        every = timedelta(minutes=rules.renotify_minutes)
        for alert in self.active.values():
            last = self._reminded.get(alert.id) or alert.fired_at
            quiet = alert.acknowledged_at is not None or self._snoozed(alert, now)
            if alert.state == "firing" and last is not None and not quiet and now - last >= every:
                due.append(alert)
        if not due:
            return 0
        queued = False
        async with self.db.write() as conn:
            channels = [c for c in await notifications.list_channels(conn) if c.enabled]
            for alert in due:
                self._reminded[alert.id] = now
                key = f"reminder:{alert.id}:{now.isoformat()}"
                queued |= await self._notify(
                    conn, channels, rules, alert, "alert.reminder", key, now
                )
        if queued and self.on_queued:
            self.on_queued()
        return len(due)

    @staticmethod
    def _snoozed(alert: AlertRow, now: datetime) -> bool:
        return alert.snoozed_until is not None and alert.snoozed_until > now

    async def _notify(
        self,
        conn: AsyncConnection,
        channels: list[notifications.ChannelRow],
        rules: policy.Policy,
        alert: AlertRow,
        event: str,
        key: str,
        now: datetime,
    ) -> bool:
        payload = message(alert, self.rules.get(alert.rule_id), event)
        rank = LEVELS.index(alert.level)
        quiet = rules.quiet_until(now, alert.level)
        queued = False
        for channel in channels:
            if LEVELS.index(channel.min_level) > rank:
                continue
            not_before = quiet
            if rules.group_seconds > 0:  # join the channel's waiting group, or open one
                group = await notifications.open_group(conn, channel.id, utcnow())
                leaves = group or utcnow() + timedelta(seconds=rules.group_seconds)
                not_before = max(not_before, leaves) if not_before else leaves
            queued |= await notifications.enqueue(
                conn, channel.id, f"{event}:{key}", payload, not_before
            )
        return queued

    def acknowledge(self, alert: AlertRow) -> None:
        for key, active in self.active.items():
            if active.id == alert.id:
                active.acknowledged_by = alert.acknowledged_by
                active.acknowledged_at = alert.acknowledged_at
                active.snoozed_until = alert.snoozed_until
                self.active[key] = active
