"""Streaming evaluation: every ingested snapshot moves the alerts of the rules it touches.

Per (rule, host, series) an alert goes pending when a level is crossed, firing once it held for
the rule's `for`, changes level while firing, and resolves once the value is back past the
threshold by the hysteresis. Pending alerts live in memory as a small record each (noisy series
cross and uncross all day; writing each, or even building a full alert for each, would cost more
than the ingest); from firing on, every transition is written with its notifications in one
transaction, and firing alerts are reloaded at start. Pending alerts are saved as one record
now and then (`save_pending`) and at shutdown, and a start within `OUTAGE_TOLERANCE` takes
them back, their `for` running on. A host whose pending alerts hold where they are (a disk at
91 % for an hour) is not stepped at each report: see `_Host`.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.alerts import states
from fleetdeck.alerts.rules import BUILTIN, BUILTIN_FOR_SECONDS, BUILTIN_HYSTERESIS, LEVELS, Rule
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.notify import policy
from fleetdeck.store import alerts as store
from fleetdeck.store import notifications, settings_kv
from fleetdeck.store.alerts import AlertRow
from fleetdeck.store.engine import Database
from fleetdeck.tsdb import series
from fleetdeck.tsdb.codec import SCALE
from fleetdeck.tsdb.engine import Accepted
from fleetdeck.tsdb.series import family

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # rule id, agent id, series key
Pending = tuple[str, float, float]  # level, since when (Unix seconds), value when last stepped
# A rule as `_follow` steps it: the rule, its group (None: not a group's rule), its levels as
# one `>` (`Rule.one_way`: sign, critical, warning) and its `for`.
Step = tuple[Rule, str | None, float, float, float, int]
PENDING_PREFIX = "pending:"
PENDING_KEY = "alerts.pending"  # settings_kv: the pending alerts, last saved
# Saved pending alerts older than this at start are dropped: their `for` would count an outage
# in which nobody saw the value (Prometheus restores its alerts' `for` within an hour, too).
OUTAGE_TOLERANCE = 3600.0
_GUARD = 1 << 63  # the top bit of a 64-bit lane
_UNMOVED = -2  # `_Host.expect` while a report is stepped, until an alert opens or clears
_NO_PENDING: dict[str, Pending] = {}  # read only


class Change(NamedTuple):
    """A transition that is written: firing, a level change while firing, resolving (from
    pending only when its rule went away). A pending alert opening or clearing is not one."""

    alert: AlertRow
    from_state: str | None
    to_state: str
    event: str  # the notification event
    at: datetime  # when it happened (naive UTC)


_EPOCH = datetime(1970, 1, 1)


def _seconds(moment: datetime) -> float:
    """A naive-UTC datetime as Unix seconds: reports are timed with `time.time()`, a float,
    where a datetime per report cost more than the rest of a report that crossed a bound."""
    return (moment - _EPOCH).total_seconds()


def _moment(seconds: float) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def _split(pairs: Sequence[tuple[str, float]]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    if not pairs:
        return (), ()
    keys, values = zip(*pairs, strict=True)
    return keys, values


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


def _bounds(rules: Iterable[Rule]) -> tuple[float, float]:
    """The bounds that let most samples skip these rules: a value under every `>` threshold
    and over every `<` one crosses nothing."""
    above, below = float("inf"), float("-inf")
    for rule in rules:
        levels = [v for v in (rule.warning, rule.critical) if v is not None]
        if not levels:
            continue
        if rule.comparison in (">", ">="):
            above = min(above, *levels)
        else:
            below = max(below, *levels)
    return above, below


@dataclass(frozen=True, slots=True)
class Plan:
    """A host's report layout (its series keys in order, which repeat from one report to the
    next) mapped to rule groups and bounds, so that a report crossing nothing costs a few
    big-integer operations over its stored row, or a max() or min() per run of positions."""

    version: int
    keys: tuple[str, ...]
    rules: tuple[tuple[Rule, ...], ...]  # per position: the rules of its series
    position: dict[str, int]  # series key -> its index in the report
    # The first `lanes` positions are the store's fixed-point row as one little-endian
    # integer (`Accepted.row`): each position is a 64-bit lane; adding `lane_add`
    # (2^63 - bound, per lane with an upper bound of 0 or more) sets a lane's top bit exactly
    # when its value reaches the bound, and `lane_mask` keeps those bits: one addition and one
    # AND at C speed check every lane. A negative lane carries one into the next lane up,
    # which can only add a candidate, never hide one; candidates are then checked exactly.
    lanes: int
    lane_add: int
    lane_mask: int
    # Positions the lanes do not cover, in consecutive runs sharing a finite bound, as (start,
    # stop, bound): nothing crosses when max() of each `above` run stays under its bound and
    # min() of each `below` run over it. Families sit together in a report: a handful of runs.
    above_runs: tuple[tuple[int, int, float], ...]
    below_runs: tuple[tuple[int, int, float], ...]
    lanes_only: bool  # no runs: the lanes say it all (a row of no lanes and no rules, too)
    # Per position, ascending: where each of its rules' levels becomes None (`clears_at`), the
    # only edges a calm host's value may not pass (see `_Host`).
    edges: tuple[tuple[float, ...], ...]
    steps: tuple[tuple[Step, ...], ...]  # per position: its rules, as `_follow` steps them

    def crossing(self, values: Sequence[float], row: int | None = None) -> Sequence[int]:
        """Positions whose value may be past a bound of their rules, ascending, and every
        position that is (the rules' own comparison decides)."""
        laned: Sequence[int] = ()
        if self.lane_mask and row is not None:
            laned = _lanes_crossed((row + self.lane_add) & self.lane_mask)
        if self.lanes_only:
            return laned
        hits = list(laned)
        sources = 1 if hits else 0
        for start, stop, bound in self.above_runs:
            part = values[start:stop]
            if max(part) >= bound:
                sources += 1
                hits.extend(i for i, v in enumerate(part, start) if v >= bound)
        for start, stop, bound in self.below_runs:
            part = values[start:stop]
            if min(part) <= bound:
                sources += 1
                hits.extend(i for i, v in enumerate(part, start) if v <= bound)
        if sources > 1:  # each source is ascending; a position may be in two
            hits = sorted(set(hits))
        return hits


def _lanes_crossed(crossed: int) -> Sequence[int]:
    """The lanes whose guard bit (bit 64 i + 63 of lane i) is set, ascending."""
    if not crossed:
        return ()
    if crossed.bit_count() == 1:  # the usual one
        return [(crossed.bit_length() >> 6) - 1]
    hits = []
    while crossed:
        lowest = crossed & -crossed
        hits.append((lowest.bit_length() >> 6) - 1)
        crossed ^= lowest
    return hits


def _step_of(rule: Rule) -> Step:
    group = rule.scope_value if rule.scope == "group" else None
    return (rule, group, *rule.one_way, rule.for_seconds)


def _runs(bounds: Sequence[float]) -> tuple[tuple[int, int, float], ...]:
    runs: list[tuple[int, int, float]] = []
    for i, bound in enumerate(bounds):
        if math.isinf(bound):
            continue
        if runs and runs[-1][1] == i and runs[-1][2] == bound:
            runs[-1] = (runs[-1][0], i + 1, bound)
        else:
            runs.append((i, i + 1, bound))
    return tuple(runs)


class _Host:
    """What the evaluator keeps of one host between its reports, behind one lookup (reports
    come between other hosts' ingests, which evict what they do not touch: every structure a
    report reads costs a cache miss)."""

    # What the fast path reads first: in one or two cache lines.
    __slots__ = (
        "ready", "stored_keys", "lane_add", "lane_mask", "expect", "quiet_states", "stored",
        "states", "watched", "pending", "bands", "due", "values", "groups",
    )  # fmt: skip

    def __init__(self) -> None:
        self.stored: Plan | None = None  # of the store's row
        # The keys tuple `stored` was last found for: a plan is shared by the hosts of one
        # layout, each with its own equal tuple, and comparing 100 keys costs a report.
        self.stored_keys: tuple[str, ...] | None = None
        self.states: Plan | None = None  # of the states and extras (units, containers, online)
        # The states and extras last evaluated when none of them neared a bound: the same
        # again, under the same plan, need no evaluation.
        self.quiet_states: Sequence[tuple[str, float]] | None = None
        # series -> how many of its alerts are pending or firing
        self.watched: dict[str, int] = {}
        # series -> rule id -> its pending alert: a report's steps read the few of its own
        # host (one fleet-wide dict keyed by (rule, host, series) cost a cache miss a step).
        self.pending: dict[str, dict[str, Pending]] = {}
        # A calm host: its alerts all pending on lanes of `stored`, each of their values inside
        # an open interval (`bands`: position, low, high) where no rule there crosses or
        # clears, and none due to fire before `due`. Then a report whose lane check gives exactly
        # `expect` (the guard bits of those positions; 0 with no alert, -1: not calm) and whose
        # values stay inside their bands changes nothing: it takes the fast path, and
        # `values` keeps its values for the pending alerts' listing. (`_UNMOVED` while a
        # report is stepped and no alert opened or cleared yet.)
        self.expect = 0
        self.bands: tuple[tuple[int, float, float], ...] = ()
        self.due = math.inf
        self.values: tuple[float, ...] | None = None
        # The evaluator's version when `stored` (a plan of lanes only, whose constants are
        # copied here) and `states` were made under it: the fast path may be taken. A new plan
        # or rule version makes it stale; the next stepped report sets it again.
        self.ready = -1
        self.lane_add = self.lane_mask = 0
        # The groups of its last stepped report (the hub hands out one set per membership):
        # a calm host that leaves a group is stepped, and its alerts of the group's rules go.
        self.groups: frozenset[str] = frozenset()


def _calm(host: _Host, values: tuple[float, ...], now: float) -> bool:
    """Whether this report leaves a calm host's pending alerts as they are (see `_Host`)."""
    if now >= host.due:
        return False
    for position, low, high in host.bands:
        if not low < values[position] < high:
            return False
    host.values = values
    return True


def _count(host: _Host, series_key: str, delta: int) -> None:
    """`delta` alerts more (or fewer) on the host's series; the host is not calm until
    `_settle` says so."""
    host.expect, host.values = -1, None
    count = host.watched.get(series_key, 0) + delta
    if count > 0:
        host.watched[series_key] = count
    else:
        host.watched.pop(series_key, None)


def _follows(host: _Host, plan: Plan) -> bool:
    """Whether an alert of the host is on a series of this plan."""
    return bool(host.watched) and not host.watched.keys().isdisjoint(plan.position)


class Evaluator:
    def __init__(
        self,
        db: Database,
        *,
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.clock = clock  # Unix seconds: when a report arrived
        self.on_queued = on_queued
        self.rules: dict[str, Rule] = {}
        self._by_family: dict[str, list[Rule]] = {}  # fleet-wide and group rules
        self._by_host: dict[str, dict[str, list[Rule]]] = {}  # host -> family -> its rules
        self._stale: set[Key] = set()  # active alerts of rules since disabled or deleted
        self.active: dict[Key, AlertRow] = {}  # firing alerts
        self._hosts: dict[str, _Host] = {}
        self._shared_plans: dict[tuple[str, ...], Plan] = {}  # layout -> plan, no host rules
        self._lanes: dict[int, int] = {}  # equal lane constants as one object, kept in cache
        self._version = 0  # bumped by reload_rules: plans made before are stale
        self._reminded: dict[str, datetime] = {}  # alert id -> last announcement
        self._saved: list[tuple[Any, ...]] = []  # what `save_pending` wrote last, but values

    async def load(self) -> None:
        """Write the built-in rules when missing; read the rules, the firing alerts and the
        pending ones last saved."""
        async with self.db.write() as conn:
            existing = {r.id for r in await store.list_rules(conn)}
            for rule in builtin_rules():
                if rule.id not in existing:
                    await store.put_rule(conn, rule)
        await self.reload_rules()
        async with self.db.read() as conn:
            stored = await store.active(conn)
            saved = await settings_kv.get(conn, PENDING_KEY)
        legacy = []  # pending, stored by the first release of alerting
        for alert in stored:
            key = (alert.rule_id, alert.agent_id, alert.series)
            self._watch(key, +1)
            if alert.state == "firing":
                self.active[key] = alert
            else:
                self._pend(key, (alert.level, _seconds(alert.started_at), alert.value))
                legacy.append(alert)
        self._restore(saved)  # those that fired since are firing, above
        if legacy:  # they go on in memory; their rows are closed, not to be listed twice
            async with self.db.write() as conn:
                for alert in legacy:
                    alert.state, alert.resolved_at = "resolved", utcnow()
                    await store.save_alert(conn, alert)

    def _restore(self, saved: Any) -> None:
        """Pending alerts `save_pending` wrote, of rules still enabled, unless too old."""
        if not isinstance(saved, dict):
            return
        age = self.clock() - float(saved.get("saved_at", 0.0))
        if age > OUTAGE_TOLERANCE:
            log.info("pending alerts saved %.0f s ago start over", age)
            return
        live = {rule.id for rule in self.rules.values() if rule.enabled}
        for entry in saved.get("pending", ()):
            try:
                rule_id, agent_id, series_key, level, since, value = entry
                key = (str(rule_id), str(agent_id), str(series_key))
                pending = (str(level), float(since), float(value))
            except (TypeError, ValueError):
                log.warning("a saved pending alert is unreadable: %r", entry)
                continue
            if (
                key[0] in live
                and pending[0] in LEVELS
                and self._pending_of(key) is None
                and key not in self.active
            ):
                self._pend(key, pending)
                self._watch(key, +1)
        self._saved = self._marks()

    def _marks(self) -> list[tuple[Any, ...]]:
        return [(*key, level, since) for key, (level, since, _) in self._pending_items()]

    @property
    def pending(self) -> dict[Key, Pending]:
        """Every pending alert, by key (a copy: they live per host, see `_Host.pending`)."""
        return dict(self._pending_items())

    def _pending_items(self, agent_id: str | None = None) -> Iterable[tuple[Key, Pending]]:
        """(key, pending alert) of one host's or of all."""
        if agent_id is None:
            for agent, host in self._hosts.items():
                yield from self._pending_of_host(agent, host)
        elif (one := self._hosts.get(agent_id)) is not None:
            yield from self._pending_of_host(agent_id, one)

    @staticmethod
    def _pending_of_host(agent_id: str, host: _Host) -> Iterable[tuple[Key, Pending]]:
        for series_key, mine in host.pending.items():
            for rule_id, pending in mine.items():
                yield (rule_id, agent_id, series_key), pending

    def _series_pending(self, key: Key) -> dict[str, Pending] | None:
        """The pending alerts of the key's host and series, by rule."""
        host = self._hosts.get(key[1])
        return None if host is None else host.pending.get(key[2])

    def _pending_of(self, key: Key) -> Pending | None:
        mine = self._series_pending(key)
        return None if mine is None else mine.get(key[0])

    def _pend(self, key: Key, pending: Pending) -> None:
        self._host(key[1]).pending.setdefault(key[2], {})[key[0]] = pending

    def _unpend(self, key: Key) -> Pending | None:
        """Forgets a pending alert; returns it (None: there was none). `_follow` does the
        same inline."""
        mine = self._series_pending(key)
        if mine is None:
            return None
        pending = mine.pop(key[0], None)
        if not mine:
            del self._hosts[key[1]].pending[key[2]]
        return pending

    async def save_pending(self) -> bool:
        """Write the pending alerts as one record (see `load`), unless they are as last written
        but for their values; returns whether it wrote. The server calls this every 30 s and
        at shutdown: a crash forgets at most the last 30 s of pending alerts opening. A
        failure is logged, never raised (the next call tries again)."""
        marks = self._marks()
        if marks == self._saved:
            return False
        entries = [[*key, level, since, value] for key, (level, value, since) in self._latest(None)]
        try:
            async with self.db.write() as conn:
                record = {"saved_at": self.clock(), "pending": entries}
                await settings_kv.put(conn, PENDING_KEY, record)
        except Exception:
            log.exception("could not save the pending alerts")
            return False
        self._saved = marks
        return True

    async def reload_rules(self) -> None:
        async with self.db.read() as conn:
            rules = await store.list_rules(conn)
        self.rules = {r.id: r for r in rules}
        by_family: dict[str, list[Rule]] = {}
        by_host: dict[str, dict[str, list[Rule]]] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            if rule.scope == "host":
                if rule.scope_value:  # a host rule without its host applies nowhere
                    mine = by_host.setdefault(rule.scope_value, {})
                    mine.setdefault(rule.family, []).append(rule)
            else:
                by_family.setdefault(rule.family, []).append(rule)
        self._by_family, self._by_host = by_family, by_host
        self._version += 1
        self._shared_plans, self._lanes = {}, {}
        live = {r.id for r in rules if r.enabled}
        pending = (key for key, _ in self._pending_items())
        self._stale = {key for key in chain(self.active, pending) if key[0] not in live}

    def follows(self, agent_id: str, series_key: str) -> bool:
        """Whether an alert of this host on this series is pending or firing."""
        host = self._hosts.get(agent_id)
        return host is not None and series_key in host.watched

    async def persist(self, changes: Sequence[Change]) -> None:
        """Write transitions `evaluate_snapshot` returned, with their notifications. A failure
        is logged, never raised: alerting must not stop collection or ingest."""
        if not changes:
            return
        try:
            await self._persist(changes)
        except Exception:
            log.exception("writing %d alert transitions failed", len(changes))

    def evaluate_snapshot(
        self,
        agent_id: str,
        snapshot: dict[str, Any],
        *,
        stored: Accepted | None = None,
        groups: frozenset[str] = frozenset(),
        extra: tuple[tuple[str, float], ...] = (),
    ) -> Sequence[Change]:
        """A host's report: its stored series (`stored`, the row the time-series store took
        from it, else read from the snapshot), its states (units, containers) and `extra`.
        Returns the transitions it makes, for `persist`; most reports make none, and then
        nothing awaits (the hub calls this for every report). A failure is logged, never
        raised: alerting must not stop collection or ingest."""
        try:
            # with_extra, inline: most snapshots have neither
            more = (
                states.with_extra(snapshot, extra)
                if snapshot.get("systemd") or snapshot.get("docker")
                else extra
            )
            host = self._hosts.get(agent_id)
            crossed = None  # the row's lanes past a bound, when the fast path got that far
            # The common case, inline (reports come between other hosts' ingests, and each
            # call and lookup here costs more than in a loop of its own): the same layout
            # and rules as last time (`_Host.ready`), the row's lanes under every bound but
            # those of the host's pending alerts (one addition, one AND), those alerts' values
            # where they were and none due (see `_Host.expect`), and the same states as last
            # time, when none neared one.
            if (
                host is not None
                and stored is not None
                and host.ready == self._version
                and host.stored_keys is stored.keys
                and (crossed := (stored.row + host.lane_add) & host.lane_mask) == host.expect
                and (more is host.quiet_states or more == host.quiet_states)
                and (
                    not crossed  # `expect` is 0 only while the host has no alert
                    or (groups is host.groups and _calm(host, stored.values, self.clock()))
                )
            ):
                return ()
            host = host or self._host(agent_id)
            host.groups = groups
            now = self.clock()
            if stored is None:
                keys, values = _split([*series.from_snapshot(snapshot), *more])
                changes = self._evaluate(agent_id, host, keys, values, None, 0, groups, now)
            else:
                changes = self._evaluate(
                    agent_id, host, stored.keys, stored.values, stored.row, len(stored.fixed),
                    groups, now, crossed,
                )  # fmt: skip
                plan = host.states
                if (
                    (more is not host.quiet_states and more != host.quiet_states)
                    or plan is None
                    or plan.version != self._version
                    or _follows(host, plan)
                ):
                    moved = self._evaluate_states(agent_id, host, more, groups, now)
                    if moved:
                        changes = [*changes, *moved]
                if host.ready != self._version:
                    self._ready(host)
            return changes
        except Exception:
            log.exception("alert evaluation failed for %s", agent_id)
            return ()

    async def observe(
        self,
        agent_id: str,
        samples: Iterable[tuple[str, float]],
        *,
        groups: frozenset[str] = frozenset(),
        now: datetime | None = None,
    ) -> list[Change]:
        keys, values = _split(samples if isinstance(samples, list | tuple) else list(samples))
        return await self.observe_row(agent_id, keys, values, groups=groups, now=now)

    async def observe_row(
        self,
        agent_id: str,
        keys: tuple[str, ...],
        values: tuple[float, ...],
        *,
        row: int | None = None,
        lanes: int = 0,
        groups: frozenset[str] = frozenset(),
        now: datetime | None = None,
    ) -> list[Change]:
        """One report as parallel keys and values, with `row`, the store's fixed-point row of
        its first `lanes` values as one integer (`Accepted.row`) when there is one. Cheapest
        when `keys` is the same tuple as last time (the store hands out one per host layout)."""
        clock = self.clock() if now is None else _seconds(now)
        host = self._host(agent_id)
        host.ready = -1  # its plans may be of other keys, or of no lanes, from here on
        changes = self._evaluate(agent_id, host, keys, values, row, lanes, groups, clock)
        if changes:
            await self._persist(changes)
        return list(changes)

    def _ready(self, host: _Host) -> None:
        """After a report with a stored row: whether the next may take the fast path. (An
        alert of a rule since gone resolved at this report, if the host had one.)"""
        plan, version = host.stored, self._version
        if (
            plan is not None
            and plan.version == version
            and plan.lanes_only
            and host.states is not None
            and host.states.version == version
        ):
            host.ready, host.lane_add, host.lane_mask = version, plan.lane_add, plan.lane_mask

    def _evaluate_states(
        self,
        agent_id: str,
        host: _Host,
        more: Sequence[tuple[str, float]],
        groups: frozenset[str],
        now: float,
    ) -> Sequence[Change]:
        """States and extras ride apart from the stored row: a handful of 1/0 values that
        rarely change, so the same ones again are skipped (see `_Host.quiet_states`)."""
        host.quiet_states = None
        keys, values = _split(more)
        plan = host.states
        if plan is None or plan.version != self._version or plan.keys != keys:
            plan = host.states = self._plan(agent_id, keys, 0)
            host.ready = -1
        if not _follows(host, plan) and not plan.crossing(values):
            host.quiet_states = more
            return ()
        return self._follow(agent_id, host, plan, keys, values, None, groups, now)

    def _evaluate(
        self,
        agent_id: str,
        host: _Host,
        keys: tuple[str, ...],
        values: tuple[float, ...],
        row: int | None,
        lanes: int,
        groups: frozenset[str],
        now: float,
        crossed: int | None = None,
    ) -> Sequence[Change]:
        """The transitions one report makes, to be persisted; nothing awaits in here, so a
        report that crosses nothing costs no coroutine of its own. `crossed`: the row's lane
        check under the host's current plan, when the caller made it (`_Host.ready`)."""
        if row is None:
            lanes = 0
        plan = host.stored
        if (
            plan is None
            or plan.version != self._version
            or (host.stored_keys is not keys and plan.keys != keys)
            or plan.lanes != lanes
        ):
            plan = host.stored = self._plan(agent_id, keys, lanes)
            host.ready = -1
            crossed = None
        host.stored_keys = keys
        # Most reports cross nothing: a few big-integer operations say so.
        hits = plan.crossing(values, row) if crossed is None else _lanes_crossed(crossed)
        if not hits and not host.watched and not self._stale:
            host.expect = 0
            return ()  # the common case: nothing crossed, nothing to follow
        host.expect, host.values = _UNMOVED, None
        changes = self._follow(agent_id, host, plan, keys, values, hits, groups, now)
        if not host.watched:
            host.expect = 0
        elif host.expect == _UNMOVED:  # its alerts outlived a report: may stay a while
            self._settle(agent_id, host, plan, values, row)
        return changes

    def _settle(
        self, agent_id: str, host: _Host, plan: Plan, values: tuple[float, ...], row: int | None
    ) -> None:
        """After a report that opened and cleared no alert of the host: whether the host is
        calm, and what keeps it so. (Most pending alerts clear at the next report or so: a
        host whose alerts just moved is not worth the look.)"""
        host.values, host.bands, host.due = None, (), math.inf
        host.expect = -1
        if row is None or not plan.lanes_only or self._stale:
            return
        crossed = (row + plan.lane_add) & plan.lane_mask
        if crossed.bit_count() != len(host.watched):  # another lane near a bound, or fewer
            return
        bands: list[tuple[int, float, float]] = []
        expect, due = 0, math.inf
        for series_key in host.watched:
            position = plan.position.get(series_key)
            if position is None or position >= plan.lanes:
                return
            value = values[position]
            mine = host.pending.get(series_key, _NO_PENDING)
            for rule in plan.rules[position]:
                pending = mine.get(rule.id)
                if pending is None:
                    # A rule without an alert crosses nothing here (a group's rule may, while
                    # the host is not in it: joining or leaving brings a stepped report).
                    if (rule.id, agent_id, series_key) in self.active:
                        return
                else:
                    # The margin keeps rounding from putting off a firing by a report.
                    due = min(due, pending[1] + rule.for_seconds - 1e-3)
            # Only where a rule's level becomes None: between those, a pending alert's level
            # may go from warning to critical and back, and is read from the value when
            # listed (`_latest`); a rule without an alert keeps none.
            edges = plan.edges[position]
            at = bisect_left(edges, value)
            if at < len(edges) and edges[at] == value:
                return
            high = edges[at] if at < len(edges) else math.inf
            bands.append((position, edges[at - 1] if at else -math.inf, high))
            expect |= _GUARD << (64 * position)
        if crossed == expect:  # else the next report's lane check cannot give `expect`
            host.expect, host.bands, host.due = expect, tuple(bands), due

    def _follow(
        self,
        agent_id: str,
        host: _Host,
        plan: Plan,
        keys: tuple[str, ...],
        values: tuple[float, ...],
        hits: Sequence[int] | None,
        groups: frozenset[str],
        now: float,
    ) -> Sequence[Change]:
        """Steps the rules of the positions that crossed (`hits`, None: find them) and of the
        series with an alert, and resolves the host's alerts of rules gone."""
        if hits is None:
            hits = plan.crossing(values)
        changes: list[Change] = []
        if host.watched:  # series with an active alert are followed whatever their value
            position = plan.position
            followed = [position[k] for k in host.watched if k in position]
            hits = sorted(set(hits).union(followed)) if hits else sorted(followed)
        step, pending, active, watched = self._step, host.pending, self.active, host.watched
        for i in hits:
            series_key, value = keys[i], values[i]
            moved = 0  # pending alerts of this series opened less those cleared
            for rule, group, sign, critical, warning, for_seconds in plan.steps[i]:
                if group is not None and group not in groups:
                    if series_key in watched:  # the host left the group: its alerts go
                        left = self._drop((rule.id, agent_id, series_key), now)
                        if left is not None:
                            changes.append(left)
                    continue
                # What most steps are, inline (a call each costs as much as the step): a
                # pending alert opening, clearing, or held short of its `for`; a rule with
                # nothing to do. `_step` does the rest. The level is `Rule.level_for`'s.
                one_way = sign * value
                level = (
                    "critical" if one_way > critical else "warning" if one_way > warning else None
                )
                mine = pending.get(series_key)  # a step may have emptied and dropped it
                was = None if mine is None else mine.get(rule.id)
                if was is not None:
                    if level is None:
                        del mine[rule.id]  # type: ignore[union-attr]
                        if not mine:
                            del pending[series_key]
                        moved -= 1
                        continue
                    if now - was[1] < for_seconds:
                        mine[rule.id] = (level, was[1], value)  # type: ignore[index]
                        continue
                elif not active or (rule.id, agent_id, series_key) not in active:
                    if level is None:
                        continue
                    if for_seconds > 0:
                        if mine is None:
                            mine = pending[series_key] = {}
                        mine[rule.id] = (level, now, value)
                        moved += 1
                        continue
                change = step(rule, (rule.id, agent_id, series_key), value, level, was, now)
                if change is not None:
                    changes.append(change)
            if moved:
                _count(host, series_key, moved)
        # Alerts whose rule was disabled or deleted resolve at their host's next report.
        for key in [k for k in self._stale if k[1] == agent_id] if self._stale else ():
            self._stale.discard(key)
            gone = self._drop(key, now)
            if gone is not None:
                changes.append(gone)
        return changes

    def _drop(self, key: Key, now: float) -> Change | None:
        """An alert whose rule went or no longer applies to its host: a pending one is
        forgotten, a firing one resolves."""
        if self._unpend(key) is not None:
            self._watch(key, -1)
            return None
        alert = self.active.get(key)
        return None if alert is None else self._resolve(key, alert, now)

    def _step(
        self, rule: Rule, key: Key, value: float, level: str | None, was: Pending | None, now: float
    ) -> Change | None:
        """The steps `_follow` leaves to a call: a pending alert (`was`) past its `for` fires,
        a crossing of a rule with no `for` fires at once, a firing alert changes level or
        resolves."""
        if was is not None:
            assert level is not None
            self._unpend(key)
            return self._fire(key, rule, level, value, was[1], now, from_state="pending")
        alert = self.active.get(key)
        if alert is None:
            assert level is not None
            self._watch(key, +1)
            return self._fire(key, rule, level, value, now, now, from_state=None)
        alert.value = value
        # firing
        if not rule.holds(value, alert.level):
            lower = "warning" if alert.level == "critical" else None
            if lower and rule.warning is not None and rule.holds(value, lower):
                alert.level, alert.threshold = lower, rule.threshold(lower)
                return Change(alert, "firing", "firing", "alert.level_changed", _moment(now))
            return self._resolve(key, alert, now)
        if level == "critical" and alert.level == "warning":
            alert.level, alert.threshold = level, rule.threshold(level)
            return Change(alert, "firing", "firing", "alert.level_changed", _moment(now))
        return None

    def _plan(self, agent_id: str, keys: tuple[str, ...], lanes: int) -> Plan:
        """Per position of this host's report: the rules that apply and their bounds.
        Hosts without rules of their own and with the same layout share one plan."""
        host = self._by_host.get(agent_id)
        if host is not None:
            return self._build_plan(keys, host, lanes)
        shared = self._shared_plans.get(keys)
        if shared is None or shared.version != self._version or shared.lanes != lanes:
            shared = self._shared_plans[keys] = self._build_plan(keys, {}, lanes)
        return shared

    def _build_plan(self, keys: tuple[str, ...], host: dict[str, list[Rule]], lanes: int) -> Plan:
        per_position, above, below = [], [], []
        lane_add = lane_mask = 0
        none: list[Rule] = []
        for i, series_key in enumerate(keys):
            name = family(series_key)
            mine = tuple(
                rule
                for rule in chain(self._by_family.get(name, none), host.get(name, none))
                if rule.metric == series_key or rule.metric == name
            )
            per_position.append(mine)
            lo, hi = _bounds(mine)
            # floor(v * SCALE + 0.5) >= floor(lo * SCALE) whenever v >= lo: no lane misses.
            fixed = math.floor(lo * SCALE) if i < lanes and math.isfinite(lo) else -1
            if 0 <= fixed < _GUARD >> 1:
                lane_add |= (_GUARD - fixed) << (64 * i)
                lane_mask |= _GUARD << (64 * i)
                lo = math.inf
            above.append(lo)
            below.append(hi)
        position = {k: i for i, k in enumerate(keys)}
        above_runs, below_runs = _runs(above), _runs(below)
        lane_add = self._lanes.setdefault(lane_add, lane_add)
        lane_mask = self._lanes.setdefault(lane_mask, lane_mask)
        return Plan(
            self._version, keys, tuple(per_position), position, lanes, lane_add, lane_mask,
            above_runs, below_runs, not above_runs and not below_runs,
            tuple(tuple(sorted({rule.clears_at for rule in mine})) for mine in per_position),
            tuple(tuple(_step_of(rule) for rule in mine) for mine in per_position),
        )  # fmt: skip

    def _host(self, agent_id: str) -> _Host:
        host = self._hosts.get(agent_id)
        if host is None:
            host = self._hosts[agent_id] = _Host()
        return host

    def _watch(self, key: Key, delta: int) -> None:
        _count(self._host(key[1]), key[2], delta)

    def _fire(
        self, key: Key, rule: Rule, level: str, value: float, started: float, now: float,
        *, from_state: str | None,
    ) -> Change:  # fmt: skip
        fired = _moment(now)
        alert = AlertRow(
            str(uuid.uuid4()), rule.id, key[1], key[2], level, "firing", value,
            rule.threshold(level), _moment(started), fired_at=fired,
        )  # fmt: skip
        self.active[key] = alert
        return Change(alert, from_state, "firing", "alert.firing", fired)

    def pending_alerts(self, agent_id: str | None = None) -> list[AlertRow]:
        """Pending alerts as alerts (they have no stored id: theirs says what they are). Those
        of a deleted rule, dropped at their host's next report, are left out already."""
        return [
            AlertRow(
                PENDING_PREFIX + "|".join(key), key[0], key[1], key[2], level, "pending",
                value, self.rules[key[0]].threshold(level), _moment(started),
            )
            for key, (level, value, started) in self._latest(agent_id)
        ]  # fmt: skip

    def _latest(self, agent_id: str | None) -> Iterable[tuple[Key, tuple[str, float, float]]]:
        """Pending alerts (of a host, or all) with their level and value now: those it was last
        stepped with, or on a calm host, those of its last report (see `_Host`)."""
        for key, (level, started, value) in self._pending_items(agent_id):
            rule = self.rules.get(key[0])
            if rule is None:
                continue
            host = self._hosts.get(key[1])
            if host is not None and host.values is not None and host.stored is not None:
                position = host.stored.position.get(key[2])
                if position is not None:
                    value = host.values[position]
                    level = rule.level_for(value) or level
            yield key, (level, value, started)

    def _resolve(self, key: Key, alert: AlertRow, now: float) -> Change:
        del self.active[key]
        self._watch(key, -1)
        resolved = _moment(now)
        alert.state, alert.resolved_at = "resolved", resolved
        return Change(alert, "firing", "resolved", "alert.resolved", resolved)

    async def _persist(self, changes: Sequence[Change]) -> None:
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
                    self._reminded[change.alert.id] = change.at
                wanted = change.event != "alert.resolved" or rules.send_resolved
                if wanted and not self._snoozed(change.alert, change.at):
                    queued |= await self._notify(
                        conn, channels, rules, change.alert, change.event, f"{transition}",
                        change.at,
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
