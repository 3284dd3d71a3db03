"""Notification policy: quiet hours hold back, reminders repeat, resolved can be silent, and
messages due together for a channel leave as one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.alerts.rules import Rule
from fleetdeck.notify.delivery import grouped
from fleetdeck.notify.policy import SETTINGS_KEY, Policy
from fleetdeck.store import alerts as store
from fleetdeck.store import migrate, notifications, settings_kv
from fleetdeck.store.engine import Database

T0 = datetime(2026, 11, 24, 12, 0, 0)  # naive UTC, like the tables


def test_quiet_hours_cross_midnight_in_the_configured_zone() -> None:
    quiet = Policy(quiet_enabled=True, quiet_start="22:00", quiet_end="07:00",
                   quiet_timezone="Europe/Berlin")  # fmt: skip
    # 22:30 UTC is 23:30 in Berlin (winter): held until 07:00 Berlin = 06:00 UTC.
    assert quiet.quiet_until(datetime(2026, 11, 24, 22, 30), "warning") == datetime(
        2026, 11, 25, 6, 0
    )
    # 05:00 UTC is 06:00 Berlin: still quiet, released the same morning.
    assert quiet.quiet_until(datetime(2026, 11, 25, 5, 0), "warning") == datetime(2026, 11, 25, 6)
    assert quiet.quiet_until(datetime(2026, 11, 25, 12, 0), "warning") is None
    assert quiet.quiet_until(datetime(2026, 11, 24, 22, 30), "critical") is None
    strict = Policy(quiet_enabled=True, quiet_allow_critical=False)
    assert strict.quiet_until(datetime(2026, 11, 24, 23, 0), "critical") is not None
    assert Policy().quiet_until(datetime(2026, 11, 24, 23, 0), "warning") is None


def test_grouped_messages_keep_every_text() -> None:
    one = {"event": "alert.firing", "text": "a", "alert": {"id": "1"}}
    two = {"event": "alert.firing", "text": "b", "alert": {"id": "2"}}
    body = grouped([one, two])
    assert body["event"] == "alert.group" and body["text"] == "2 notifications:\na\nb"
    assert [a["id"] for a in body["alerts"]] == ["1", "2"]


@pytest.fixture
async def db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('policy') / 'p.db'}"
    migrate.upgrade(url)
    database = Database(url, audit_key=b"k" * 32)
    yield database
    await database.close()


async def _setup(db: Database, rules: Policy) -> Evaluator:
    async with db.write() as conn:
        await settings_kv.put(conn, SETTINGS_KEY, rules.stored())
        await notifications.put_channel(
            conn, channel_id=None, kind="webhook", name="h",
            config={"url": "http://127.0.0.1:9/", "secret": None}, enabled=True,
            min_level="warning",
        )  # fmt: skip
        await store.put_rule(
            conn,
            Rule(id="hot", name="Hot", metric="temp", comparison=">", warning=70.0,
                 critical=None, for_seconds=0, hysteresis=0.0),
        )  # fmt: skip
    ev = Evaluator(db)
    await ev.load()
    return ev


async def _events(db: Database) -> list[tuple[str, datetime]]:
    async with db.read() as conn:
        rows, _ = await notifications.listing(
            conn, status=None, channel_id=None, limit=100, offset=0
        )
    return [(r["payload"]["event"], r["next_attempt_at"]) for r in reversed(rows)]


async def test_reminders_repeat_until_acknowledged_and_resolved_can_be_silent(
    db: Database,
) -> None:
    ev = await _setup(db, Policy(send_resolved=False, renotify_minutes=10))
    await ev.observe("local", [("temp[x]", 80.0)], now=T0)
    assert await ev.remind(T0 + timedelta(minutes=5)) == 0
    assert await ev.remind(T0 + timedelta(minutes=11)) == 1
    assert await ev.remind(T0 + timedelta(minutes=12)) == 0  # counted from the last reminder
    (alert,) = ev.active.values()
    alert.acknowledged_at = T0 + timedelta(minutes=13)
    assert await ev.remind(T0 + timedelta(minutes=30)) == 0
    await ev.observe("local", [("temp[x]", 20.0)], now=T0 + timedelta(minutes=31))
    assert [e for e, _ in await _events(db)] == ["alert.firing", "alert.reminder"]


async def test_grouping_delays_delivery_so_messages_leave_together(db: Database) -> None:
    from fleetdeck.clock import utcnow

    ev = await _setup(db, Policy(group_seconds=30))
    now = utcnow()
    await ev.observe("local", [("temp[a]", 80.0), ("temp[b]", 81.0)], now=now)
    await ev.observe("local", [("temp[c]", 82.0)], now=now + timedelta(seconds=5))
    due = [at for _, at in await _events(db)]
    # One window: the later alert joins the group the first one opened.
    assert len(due) == 3 and len(set(due)) == 1 and due[0] >= now + timedelta(seconds=30)


async def test_quiet_hours_hold_back_warnings(db: Database) -> None:
    from fleetdeck.clock import utcnow

    now = utcnow()
    # A quiet window from one minute ago to ten minutes from now, in UTC.
    start, end = now - timedelta(minutes=1), now + timedelta(minutes=10)
    quiet = Policy(quiet_enabled=True, quiet_start=start.strftime("%H:%M"),
                   quiet_end=end.strftime("%H:%M"))  # fmt: skip
    ev = await _setup(db, quiet)
    await ev.observe("local", [("temp[a]", 80.0)], now=now)
    ((event, at),) = await _events(db)
    assert event == "alert.firing" and at >= end.replace(second=0, microsecond=0)
