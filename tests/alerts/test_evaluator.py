"""The streaming evaluator on a real database: pending, firing, level changes, hysteresis,
restarts, and the notifications each transition queues."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from fleetdeck.alerts.evaluator import OUTAGE_TOLERANCE, Evaluator
from fleetdeck.alerts.rules import Rule
from fleetdeck.store import alerts as store
from fleetdeck.store import notifications
from fleetdeck.store.alerts import AlertRow
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.codec import to_fixed
from fleetdeck.tsdb.engine import TimeSeriesStore

T0 = datetime(2026, 11, 24, 12, 0, 0)


async def _evaluator(db: Database, *rules: Rule) -> Evaluator:
    evaluator = Evaluator(db)
    await evaluator.load()
    async with db.write() as conn:
        for rule in rules:
            await store.put_rule(conn, rule)
    await evaluator.reload_rules()
    return evaluator


def _rule(**overrides: object) -> Rule:
    values: dict[str, object] = {
        "id": "temp",
        "name": "Hot",
        "metric": "temp",
        "comparison": ">",
        "warning": 70.0,
        "critical": 90.0,
        "for_seconds": 30,
        "hysteresis": 5.0,
    }
    values.update(overrides)
    return Rule(**values)  # type: ignore[arg-type]


async def _channel(db: Database, min_level: str = "warning") -> str:
    async with db.write() as conn:
        return await notifications.put_channel(
            conn, channel_id=None, kind="webhook", name="hook",
            config={"url": "http://127.0.0.1:9/x", "secret": None}, enabled=True,
            min_level=min_level,
        )  # fmt: skip


async def _queued(db: Database) -> list[str]:
    async with db.read() as conn:
        rows, _ = await notifications.listing(
            conn, status=None, channel_id=None, limit=100, offset=0
        )
    return [r["payload"]["event"] for r in reversed(rows)]


async def test_an_alert_walks_pending_firing_critical_warning_resolved(db: Database) -> None:
    await _channel(db)
    ev = await _evaluator(db, _rule())

    async def at(seconds: int, value: float) -> list[str]:
        changes = await ev.observe(
            "local", [("temp[cpu]", value), ("cpu", 1.0)], now=T0 + timedelta(seconds=seconds)
        )
        return [f"{c.from_state}->{c.to_state}:{c.alert.level}" for c in changes]

    assert await at(0, 60) == []
    assert await at(5, 75) == []  # pending: in memory, nothing written
    (pending,) = ev.pending_alerts()
    assert (pending.state, pending.level, pending.series) == ("pending", "warning", "temp[cpu]")
    assert await at(20, 80) == []  # still inside `for`
    assert await at(30, 92) == []  # critical, and still inside it
    (pending,) = ev.pending_alerts()  # listed as the latest report has it
    assert (pending.level, pending.value, pending.threshold) == ("critical", 92, 90)
    assert pending.started_at == T0 + timedelta(seconds=5)
    assert await at(40, 80) == ["pending->firing:warning"]
    assert await at(45, 95) == ["firing->firing:critical"]
    assert await at(50, 87) == []  # within the hysteresis of critical (85)
    assert await at(55, 80) == ["firing->firing:warning"]
    assert await at(60, 68) == []  # within the hysteresis of warning (65)
    assert await at(65, 60) == ["firing->resolved:warning"]
    assert await _queued(db) == [
        "alert.firing",
        "alert.level_changed",
        "alert.level_changed",
        "alert.resolved",
    ]
    async with db.read() as conn:
        (alert,), _ = await store.search(conn, states=None, agent_id="local", limit=10, offset=0)
        transitions, total = await store.transitions(
            conn, alert_id=alert.id, since=None, until=None, limit=50, offset=0
        )
    # Pending lives in memory; the firing transition says where it came from.
    assert alert.state == "resolved" and alert.series == "temp[cpu]" and total == 4
    assert transitions[0]["to_state"] == "resolved"
    assert (transitions[-1]["from_state"], transitions[-1]["to_state"]) == ("pending", "firing")


async def test_a_blip_shorter_than_for_never_notifies(db: Database) -> None:
    await _channel(db)
    ev = await _evaluator(db, _rule())
    await ev.observe("local", [("temp[cpu]", 75)], now=T0)
    await ev.observe("local", [("temp[cpu]", 50)], now=T0 + timedelta(seconds=10))
    assert await _queued(db) == []
    assert ev.active == {} and ev.pending == {}


async def test_firing_alerts_survive_a_restart(db: Database) -> None:
    ev = await _evaluator(db, _rule(for_seconds=0))
    await ev.observe("local", [("temp[gpu]", 99)], now=T0)
    again = Evaluator(db)
    await again.load()
    (alert,) = again.active.values()
    assert alert.state == "firing" and alert.level == "critical"
    changes = await again.observe("local", [("temp[gpu]", 10)], now=T0 + timedelta(minutes=1))
    assert [c.to_state for c in changes] == ["resolved"]


async def test_pending_alerts_survive_a_restart_within_the_outage_tolerance(
    db: Database,
) -> None:
    """Saved every 30 s and at shutdown: a new process takes them back, their `for` running
    on, unless they fired since, their rule went, or the outage lasted over an hour."""
    clock = [1_800_000_000.0]

    async def started() -> Evaluator:
        ev = Evaluator(db, clock=lambda: clock[0])
        await ev.load()
        return ev

    def moment(seconds: float) -> datetime:
        return datetime(1970, 1, 1) + timedelta(seconds=seconds)

    first = await _evaluator(db, _rule(for_seconds=60), _rule(id="gone", for_seconds=60))
    first.clock = lambda: clock[0]
    await first.observe("h", [("temp[a]", 75.0), ("temp[b]", 95.0)], now=moment(clock[0]))
    assert await first.save_pending() is True
    assert await first.save_pending() is False  # nothing opened, cleared or changed level
    listed = sorted((a.id, a.level, a.value, a.started_at) for a in first.pending_alerts())
    assert len(listed) == 4
    async with db.write() as conn:
        await store.delete_rule(conn, "gone")

    clock[0] += 40  # a restart
    second = await started()
    assert sorted((a.id, a.level, a.value, a.started_at) for a in second.pending_alerts()) == [
        entry for entry in listed if not entry[0].startswith("pending:gone|")
    ]
    clock[0] += 25  # 65 s after the crossing: past the `for`, across the restart
    fired = await second.observe("h", [("temp[a]", 76.0), ("temp[b]", 96.0)], now=moment(clock[0]))
    assert sorted((c.alert.series, c.alert.level, c.alert.started_at) for c in fired) == [
        ("temp[a]", "warning", moment(clock[0] - 65)),
        ("temp[b]", "critical", moment(clock[0] - 65)),
    ]
    third = await started()  # the save before they fired still lists them as pending
    assert third.pending == {} and len(third.active) == 2

    await second.observe("h", [("temp[a]", 10.0), ("temp[b]", 10.0)], now=moment(clock[0]))
    await second.observe("h", [("temp[c]", 80.0)], now=moment(clock[0]))
    assert await second.save_pending() is True
    clock[0] += OUTAGE_TOLERANCE + 1
    assert (await started()).pending == {}


async def test_channels_get_what_their_minimum_level_allows(db: Database) -> None:
    critical_only = await _channel(db, "critical")
    everything = await _channel(db, "warning")
    ev = await _evaluator(db, _rule(for_seconds=0))
    await ev.observe("local", [("temp[a]", 75)], now=T0)
    await ev.observe("local", [("temp[b]", 95)], now=T0)
    async with db.read() as conn:
        crit, _ = await notifications.listing(
            conn, status=None, channel_id=critical_only, limit=10, offset=0
        )
        warn, _ = await notifications.listing(
            conn, status=None, channel_id=everything, limit=10, offset=0
        )
    assert [r["payload"]["alert"]["series"] for r in crit] == ["temp[b]"]
    assert sorted(r["payload"]["alert"]["series"] for r in warn) == ["temp[a]", "temp[b]"]


async def test_below_rules_scope_and_disabled_rules(db: Database) -> None:
    low_swap = _rule(
        id="swap-low", metric="swap", comparison="<", warning=10.0, critical=None,
        for_seconds=0, hysteresis=2.0, scope="host", scope_value="db1",
    )  # fmt: skip
    ev = await _evaluator(db, low_swap)
    assert await ev.observe("web1", [("swap", 1.0)], now=T0) == []  # other host
    fired = await ev.observe("db1", [("swap", 5.0)], now=T0)
    assert [c.to_state for c in fired] == ["firing"]
    assert await ev.observe("db1", [("swap", 11.0)], now=T0) == []  # < 12: still holds
    async with db.write() as conn:
        await store.put_rule(conn, replace(low_swap, enabled=False))
    await ev.reload_rules()
    resolved = await ev.observe("db1", [("swap", 5.0)], now=T0)
    assert [c.to_state for c in resolved] == ["resolved"]


async def test_a_stopped_service_or_container_fires_a_state_rule(db: Database) -> None:
    from fleetdeck.alerts import states

    rule = _rule(
        id="nginx", metric="service.active[nginx.service]", comparison="<", warning=None,
        critical=1.0, for_seconds=0, hysteresis=0.0,
    )  # fmt: skip
    ev = await _evaluator(db, rule, replace(rule, id="containers", metric="container.running"))
    services = [
        {"name": "nginx.service", "state": "failed", "subState": "failed"},
        {"name": "ssh.service", "state": "active", "subState": "running"},
    ]
    containers = [{"name": "db", "status": "exited"}, {"name": "web", "status": "running"}]
    snap = {"systemd": {"services": services}, "docker": {"containers": containers}}
    changes = await ev.observe("local", states.from_snapshot(snap), now=T0)
    assert sorted((c.alert.series, c.to_state) for c in changes) == [
        ("container.running[db]", "firing"),
        ("service.active[nginx.service]", "firing"),
    ]


async def test_group_scoped_rules_follow_membership(db: Database) -> None:
    rule = _rule(id="web-hot", for_seconds=0, scope="group", scope_value="web")
    ev = await _evaluator(db, rule)
    assert await ev.observe("local", [("temp[x]", 99.0)], now=T0) == []
    fired = await ev.observe("local", [("temp[x]", 99.0)], groups=frozenset({"web"}), now=T0)
    assert [c.to_state for c in fired] == ["firing"]


async def test_a_host_that_leaves_a_group_drops_the_alerts_of_its_rules(
    db: Database, tmp_path: Path
) -> None:
    """At its next report a firing one resolves and a pending one goes, a calm host's too."""
    ev = await _evaluator(
        db,
        _rule(id="now", metric="temp[now]", for_seconds=0, scope="group", scope_value="web"),
        _rule(id="later", for_seconds=600, scope="group", scope_value="web"),
        _rule(id="fleet", warning=60.0, critical=None, for_seconds=600),
    )
    clock = [1_800_000_000.0]
    ev.clock = lambda: clock[0]
    tsdb = TimeSeriesStore(db, tmp_path, {"raw": 1, "1m": 1, "5m": 1, "1h": 1})
    await tsdb.open()

    async def report(host: str, groups: frozenset[str]) -> list[tuple[str, str]]:
        clock[0] += 1
        stored = await tsdb.ingest(host, int(clock[0] * 1000), [(f"temp[{host}]", 75.0)])
        assert stored is not None
        changes = ev.evaluate_snapshot(host, {}, stored=stored, groups=groups)
        await ev.persist(changes)
        return [(c.alert.rule_id, c.to_state) for c in changes]

    web = frozenset({"web"})
    assert await report("now", web) == [("now", "firing")]
    assert await report("now", frozenset()) == [("now", "resolved")]

    def pending() -> list[str]:
        return sorted(key[0] for key in ev.pending if key[1] == "calm")

    for _ in range(4):
        assert await report("calm", web) == []
    assert ev._hosts["calm"].values is not None  # calm: its pending alerts were not stepped
    assert pending() == ["fleet", "later"]
    assert await report("calm", frozenset({"web"})) == []  # an equal set: nothing moves
    assert pending() == ["fleet", "later"]
    assert await report("calm", frozenset()) == []
    assert pending() == ["fleet"]


async def test_rules_apply_to_their_own_series_whatever_the_layout(db: Database) -> None:
    """A rule on one series leaves its siblings alone; `<` and `>` rules on one family are both
    checked; hosts sharing a layout share nothing else."""
    one_gpu = _rule(id="gpu1", metric="gpu.memory[1]", warning=80.0, critical=None, for_seconds=0)
    low = _rule(id="low", metric="temp", comparison="<", warning=5.0, critical=None, for_seconds=0)
    ev = await _evaluator(db, one_gpu, low, _rule(for_seconds=0))
    layout = [
        ("gpu.memory[0]", 95.0),
        ("gpu.memory[1]", 10.0),
        ("temp[a]", 50.0),
        ("temp[b]", 50.0),
    ]
    assert await ev.observe("a", layout, now=T0) == []  # gpu.memory[0] has no rule
    crossed = dict(layout) | {"gpu.memory[1]": 85.0, "temp[a]": 1.0, "temp[b]": 95.0}
    changes = await ev.observe("b", list(crossed.items()), now=T0)
    assert sorted((c.alert.rule_id, c.alert.series) for c in changes) == [
        ("gpu1", "gpu.memory[1]"), ("low", "temp[a]"), ("temp", "temp[b]"),
    ]  # fmt: skip
    assert await ev.observe("a", layout, now=T0) == []  # host a still has nothing


async def test_a_report_taken_by_the_store_is_evaluated_with_its_states(
    db: Database, tmp_path: Path
) -> None:
    ev = await _evaluator(
        db,
        _rule(for_seconds=0),
        _rule(id="up", metric="service.active", comparison="<", warning=None, critical=1.0,
              for_seconds=0, hysteresis=0.0),
    )  # fmt: skip
    tsdb = TimeSeriesStore(db, tmp_path, {"raw": 1, "1m": 1, "5m": 1, "1h": 1})
    await tsdb.open()
    snap = {
        "temperature": {"sensors": [{"name": "cpu", "value": 95.0}]},
        "systemd": {"services": [{"name": "cron.service", "state": "failed"}]},
    }
    stored = await tsdb.ingest_snapshot("local", 1_000, snap)
    assert stored is not None and "temp[cpu]" in stored.keys
    await ev.persist(ev.evaluate_snapshot("local", snap, stored=stored))
    assert sorted(key[2] for key in ev.active) == ["service.active[cron.service]", "temp[cpu]"]


async def test_states_that_repeat_are_skipped_until_they_or_the_rules_change(
    db: Database, tmp_path: Path
) -> None:
    """States ride apart from the stored row, and the same ones again are not evaluated: a
    rule added later, a state that changes, an alert that must resolve are all still seen."""
    ev = await _evaluator(db, _rule(for_seconds=0))
    tsdb = TimeSeriesStore(db, tmp_path, {"raw": 1, "1m": 1, "5m": 1, "1h": 1})
    await tsdb.open()
    online = (("host.online", 1.0),)

    def snap(status: str) -> dict[str, object]:
        return {
            "temperature": {"sensors": [{"name": "cpu", "value": 50.0}]},
            "docker": {"containers": [{"name": "db", "status": status}]},
        }

    async def report(ts: int, status: str) -> list[tuple[str, str]]:
        stored = await tsdb.ingest_snapshot("h", ts, snap(status))
        assert stored is not None
        changes = ev.evaluate_snapshot("h", snap(status), stored=stored, extra=online)
        if changes:
            await ev.persist(changes)
        return [(c.alert.series, c.to_state) for c in changes]

    assert await report(1_000, "running") == []
    assert await report(2_000, "exited") == []  # no rule on containers yet
    async with db.write() as conn:
        await store.put_rule(
            conn, _rule(id="up", metric="container.running", comparison="<", warning=None,
                        critical=1.0, for_seconds=0, hysteresis=0.0),
        )  # fmt: skip
    await ev.reload_rules()
    fired = [("container.running[db]", "firing")]
    resolved = [("container.running[db]", "resolved")]
    assert await report(3_000, "exited") == fired  # the same states, a new rule
    assert await report(4_000, "exited") == []
    assert await report(5_000, "running") == resolved
    assert await report(6_000, "running") == []  # quiet again: skipped from here on
    assert await report(7_000, "exited") == fired  # a change is seen
    changes = ev.evaluate_snapshot("h", snap("running"), extra=online)  # without a store
    assert [(c.alert.series, c.to_state) for c in changes] == resolved


async def test_the_fixed_point_row_finds_every_crossing_the_values_do(db: Database) -> None:
    """The check over the store's int64 row (an addition and an AND for every position at once)
    against each value compared on its own: the same transitions at the bounds, around zero,
    below a negative bound and far out."""
    rules = [
        _rule(id="hot", metric="temp", warning=85.004, critical=90.0, for_seconds=600),
        _rule(id="cold", metric="temp", comparison="<", warning=5.0, critical=None,
              for_seconds=600),
        _rule(id="neg", metric="rate", comparison=">=", warning=-5.0, critical=None,
              for_seconds=600),
        _rule(id="big", metric="bytes", warning=1e15, critical=None, for_seconds=600),
    ]  # fmt: skip
    one_by_one = await _evaluator(db, *rules)
    laned = Evaluator(db)
    await laned.load()
    keys = ("temp[a]", "temp[b]", "rate", "other", "bytes", "temp[c]")
    edges = [85.004, 85.005, 85.0049, 90.0, 89.999, -0.001, -1e12, 0.0, 5.0, 4.99, -5.0, -5.01,
             1e15, 1e15 - 0.01, 9.2e16, -9.2e16]  # fmt: skip
    rng = random.Random(7)
    seen = 0
    for i in range(600):
        values = tuple(
            rng.choice(edges) if rng.random() < 0.6 else rng.uniform(-99, 99) for _ in keys
        )
        now = T0 + timedelta(seconds=i)
        expected = await one_by_one.observe_row("h", keys, values, now=now)
        fixed = to_fixed(values)
        row = int.from_bytes(fixed, "little")
        got = await laned.observe_row("h", keys, values, row=row, lanes=len(fixed), now=now)
        assert [(c.alert.rule_id, c.alert.series, c.from_state, c.to_state, c.alert.level)
                for c in got] == [
            (c.alert.rule_id, c.alert.series, c.from_state, c.to_state, c.alert.level)
            for c in expected
        ]  # fmt: skip
        assert laned.pending == one_by_one.pending
        seen += len(laned.pending)
    assert seen > 100
    plan = laned._hosts["h"].stored
    assert plan is not None
    assert plan.lanes == len(keys) and plan.lane_mask  # the row check was the one used


async def test_a_pending_alert_stored_by_an_earlier_release_goes_on_in_memory(db: Database) -> None:
    await _evaluator(db, _rule())
    old = AlertRow("old-id", "temp", "local", "temp[cpu]", "warning", "pending", 75.0, 70.0, T0)
    async with db.write() as conn:
        await store.save_alert(conn, old)
    ev = Evaluator(db)
    await ev.load()
    [pending] = ev.pending_alerts()
    assert (pending.rule_id, pending.series, pending.level, pending.started_at, pending.value) == (
        "temp",
        "temp[cpu]",
        "warning",
        T0,
        75.0,
    )
    async with db.read() as conn:
        stored = await store.get(conn, "old-id")
    assert stored is not None and stored.state == "resolved"  # not listed twice
    changes = await ev.observe("local", [("temp[cpu]", 80.0)], now=T0 + timedelta(seconds=30))
    assert [(c.from_state, c.to_state, c.alert.started_at) for c in changes] == [
        ("pending", "firing", T0)
    ]


async def test_a_calm_host_skips_its_steps_and_misses_nothing(db: Database, tmp_path: Path) -> None:
    """Pending alerts whose values stay put are not stepped at each report (the hub's path):
    against an evaluator that steps every report, the same transitions, and the same pending
    alerts listed with the same level and value, while values wander across both levels and
    sit on them, alerts come due, and the host joins a group and leaves it."""
    rules = [
        _rule(id="a", warning=70.0, critical=78.5, for_seconds=25, hysteresis=3.0),
        _rule(id="b", comparison=">=", warning=75.0, critical=78.0, for_seconds=40,
              hysteresis=1.0),
        _rule(id="c", metric="temp[x]", warning=72.5, critical=None, for_seconds=30,
              hysteresis=1.0, scope="host", scope_value="h"),
        _rule(id="g", warning=77.0, critical=None, for_seconds=20, hysteresis=1.0,
              scope="group", scope_value="racks"),
    ]  # fmt: skip
    clock = [1_800_000_000.0]
    calm = await _evaluator(db, *rules)
    calm.clock = lambda: clock[0]
    stepped = Evaluator(db)
    await stepped.load()
    tsdb = TimeSeriesStore(db, tmp_path, {"raw": 1, "1m": 1, "5m": 1, "1h": 1})
    await tsdb.open()
    rng = random.Random(11)
    # Each series is hot (between two edges of its rules) or cool, for 40 reports on average;
    # a hot spell outlasts the rules' `for` or not.
    hot = {"temp[x]": 74.0, "temp[y]": 77.8, "temp[z]": 71.0, "load": 3.0}
    cool = {"temp[x]": 60.0, "temp[y]": 60.0, "temp[z]": 68.5, "load": 1.0}  # z: a lingers
    means, walk = dict(cool), dict(cool)
    edges = [70.0, 72.5, 75.0, 77.0, 78.0, 78.5]
    skipped = fired = 0
    racks = frozenset({"racks"})  # one set while the membership holds, as the hub's

    def listing(ev: Evaluator) -> list[tuple[object, ...]]:
        return sorted(
            (a.rule_id, a.series, a.state, a.level, a.value, a.started_at)
            for a in [*ev.pending_alerts(), *ev.active.values()]
        )

    for i in range(3_000):
        clock[0] += 1
        for key, mean in means.items():
            if rng.random() < 1 / 40:
                means[key] = hot[key] if mean == cool[key] else cool[key]
            # to halves: values sit on the edges, `>=` rules' too
            walk[key] = round(2 * (walk[key] + 0.3 * (mean - walk[key]) + rng.gauss(0, 0.4))) / 2
            if rng.random() < 0.01:  # now and then right on an edge
                walk[key] = rng.choice(edges)
        groups = racks if i // 150 % 2 else frozenset()  # joins and leaves
        stored = await tsdb.ingest("h", int(clock[0] * 1000), list(walk.items()))
        assert stored is not None
        got = calm.evaluate_snapshot("h", {}, stored=stored, groups=groups)
        skipped += calm._hosts["h"].values is not None  # set by the calm path alone
        expected = await stepped.observe_row(
            "h", stored.keys, stored.values, groups=groups,
            now=datetime(1970, 1, 1) + timedelta(seconds=clock[0]),
        )  # fmt: skip
        await calm.persist(got)
        assert [(c.alert.rule_id, c.alert.series, c.from_state, c.to_state, c.alert.level)
                for c in got] == [
            (c.alert.rule_id, c.alert.series, c.from_state, c.to_state, c.alert.level)
            for c in expected
        ], i  # fmt: skip
        assert listing(calm) == listing(stepped), i
        fired += sum(c.to_state == "firing" and c.from_state == "pending" for c in got)
    assert skipped > 80 and fired > 30, (skipped, fired)  # both paths were taken


async def test_a_firing_alert_inside_its_hysteresis_keeps_its_host_stepped(
    db: Database, tmp_path: Path
) -> None:
    """A firing alert whose value is back under its threshold but not past the hysteresis
    neighbours a pending one: the host is not calm, and the next report resolves it."""
    ev = await _evaluator(
        db,
        _rule(id="slow", warning=60.0, critical=None, for_seconds=3_600),
        _rule(id="now", warning=70.0, critical=None, for_seconds=0, hysteresis=5.0),
    )
    clock = [1_800_000_000.0]
    ev.clock = lambda: clock[0]
    tsdb = TimeSeriesStore(db, tmp_path, {"raw": 1, "1m": 1, "5m": 1, "1h": 1})
    await tsdb.open()
    seen = []
    for value in (75.0, 67.0, 67.0, 67.0, 64.0):
        clock[0] += 1
        stored = await tsdb.ingest("h", int(clock[0] * 1000), [("temp[a]", value)])
        assert stored is not None
        changes = ev.evaluate_snapshot("h", {}, stored=stored)
        await ev.persist(changes)
        seen += [(c.alert.rule_id, c.to_state) for c in changes]
    assert seen == [("now", "firing"), ("now", "resolved")]
    assert [key[0] for key in ev.pending] == ["slow"]


async def test_a_value_right_on_an_edge_keeps_its_host_stepped(
    db: Database, tmp_path: Path
) -> None:
    """At 75 a `>= 75` rule's alert is pending; at 74.5 it must go, though another rule's alert
    below keeps the lane near its bound."""
    ev = await _evaluator(
        db,
        _rule(id="low", warning=70.0, critical=None, for_seconds=600),
        _rule(id="edge", comparison=">=", warning=75.0, critical=None, for_seconds=600),
    )
    clock = [1_800_000_000.0]
    ev.clock = lambda: clock[0]
    tsdb = TimeSeriesStore(db, tmp_path, {"raw": 1, "1m": 1, "5m": 1, "1h": 1})
    await tsdb.open()
    for value in (75.0, 75.0, 75.0, 74.5):
        clock[0] += 1
        stored = await tsdb.ingest("h", int(clock[0] * 1000), [("temp[a]", value)])
        assert stored is not None
        assert not ev.evaluate_snapshot("h", {}, stored=stored)
    assert [key[0] for key in ev.pending] == ["low"]
