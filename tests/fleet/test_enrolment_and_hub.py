"""Enrolment, registration rules, rotation bookkeeping and the hub's ingest on both database
backends (SQLite and a real PostgreSQL), without sockets: the e2e tests cover the wire."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleetdeck.agent.identity import Identity
from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.alerts.rules import Rule
from fleetdeck.bus.memory import MemoryBus
from fleetdeck.errors import Unauthorized
from fleetdeck.fleet import enrolment
from fleetdeck.fleet.groups import GroupIndex
from fleetdeck.fleet.hub import STATUS_TOPIC, Hub, effective_config, metrics_topic
from fleetdeck.store import agents, groups
from fleetdeck.store import alerts as alert_store
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore

DAY = 86_400_000
RETENTION = {"raw": DAY, "1m": 7 * DAY, "5m": 30 * DAY, "1h": 400 * DAY}


def key() -> str:
    return Identity(Ed25519PrivateKey.generate()).public_key_b64


async def token(db: Database, uses: int | None = None) -> str:
    async with db.write() as conn:
        raw = "fde_test_" + str(time.monotonic_ns())
        from fleetdeck.auth.tokens import token_hash

        await agents.create_token(
            conn, name="t", token_hash=token_hash(raw), uses_left=uses, expires_at=None,
            created_by="test",
        )  # fmt: skip
    return raw


async def test_a_one_use_token_admits_one_host_and_rules_approve_into_groups(db: Database) -> None:
    once = await token(db, uses=1)
    first = await enrolment.enroll(
        db, token=once, hostname="Web-01", public_key=key(), name=None, facts={}, ip="10.1.2.3"
    )
    assert (first.id, first.status) == ("web-01", "pending")
    with pytest.raises(Unauthorized):
        await enrolment.enroll(
            db, token=once, hostname="web-02", public_key=key(), name=None, facts={}, ip=None
        )
    async with db.write() as conn:
        await groups.put(conn, "lab", "Lab", "")
        await agents.put_rule(
            conn, None, name="lab", hostname_pattern="lab-*", address_range="10.0.0.0/8",
            groups=["lab", "gone"],
        )  # fmt: skip
    many = await token(db)
    inside = await enrolment.enroll(
        db, token=many, hostname="lab-1", public_key=key(), name=None, facts={}, ip="10.9.9.9"
    )
    outside = await enrolment.enroll(
        db, token=many, hostname="lab-2", public_key=key(), name=None, facts={}, ip="192.0.2.1"
    )
    assert inside.status == "approved" and outside.status == "pending"
    async with db.read() as conn:
        assert (await groups.membership(conn))["lab-1"] == frozenset({"lab"})
    # The same hostname again gets its own id; the same key again gets its own record back.
    again = await enrolment.enroll(
        db, token=many, hostname="lab-1", public_key=key(), name=None, facts={}, ip="10.0.0.1"
    )
    assert again.id == "lab-1-2"
    same = await enrolment.enroll(
        db, token=many, hostname="other", public_key=inside.public_key or "", name=None,
        facts={}, ip=None,
    )  # fmt: skip
    assert same.id == "lab-1"


async def test_the_hub_ingests_dedupes_persists_and_marks_offline(
    db: Database, tmp_path: Path
) -> None:
    tsdb = TimeSeriesStore(db, tmp_path / "wal", RETENTION)
    await tsdb.open()
    bus = MemoryBus()
    evaluator = Evaluator(db)
    await evaluator.load()
    index = GroupIndex(db)
    hub = Hub(db, bus, tsdb, evaluator, index)
    statuses = bus.subscribe(STATUS_TOPIC)
    hub.approved("web-1", effective_config({"interval": 1}))
    async with db.write() as conn:
        await agents.insert(conn, id="web-1", name="web", hostname="web-1", status="approved",
                            facts={})  # fmt: skip
    now = int(time.time() * 1000)
    snapshot = {"cpu": {"totalUsage": 42.5}, "memory": {"usedPercent": 50.0}}
    assert await hub.report("web-1", now, snapshot) is True
    assert await hub.report("web-1", now, snapshot) is False  # a resend after a lost ack
    assert await hub.report("web-1", now + 10 * 60_000, snapshot) is True  # clock ahead
    assert hub.status("web-1") == "online"
    assert b'"online"' in await statuses.get()
    result = await tsdb.query("web-1", now - 1000, now + 60_000, "raw", ["cpu"])
    stamps = [ts for ts, _ in result.rows]
    assert len(stamps) == 2 and stamps[0] == now  # the one from the future filed under "now"
    assert now < stamps[1] <= time.time() * 1000
    await hub.persist()
    async with db.read() as conn:
        assert (await agents.get(conn, "web-1")).last_seen is not None  # type: ignore[union-attr]
    page = bus.subscribe(metrics_topic("web-1"))  # someone watches the host's page
    gone = await hub.sweep(now=time.monotonic() + 10)
    assert gone == ["web-1"] and hub.status("web-1") == "offline"
    assert b'"offline"' in await statuses.get()
    assert (
        await asyncio.wait_for(page.get(), 5)
        == b'event: status\ndata: {"agent_id":"web-1","status":"offline"}\n\n'
    )
    await tsdb.close()


async def test_a_host_down_rule_with_a_for_fires_while_the_host_stays_away(
    db: Database, tmp_path: Path
) -> None:
    """An offline host sends no report to step its pending alert: the sweep does."""
    evaluator = Evaluator(db)
    await evaluator.load()
    async with db.write() as conn:
        await alert_store.put_rule(
            conn, Rule(id="down", name="Host down", metric="host.online", comparison="<",
                       warning=None, critical=1.0, for_seconds=1, hysteresis=0.0),
        )  # fmt: skip
    await evaluator.reload_rules()
    hub = Hub(db, MemoryBus(), None, evaluator, GroupIndex(db))
    hub.approved("web-1", effective_config({"interval": 1}))
    assert await hub.report("web-1", int(time.time() * 1000), {"cpu": {"totalUsage": 1.0}})
    assert await hub.sweep(now=time.monotonic() + 10) == ["web-1"]
    assert [a.state for a in evaluator.pending_alerts("web-1")] == ["pending"]
    await hub.sweep(now=time.monotonic() + 10)  # within its `for`: still pending
    assert not evaluator.active
    time.sleep(1.1)
    await hub.sweep(now=time.monotonic() + 10)
    assert [(k[0], a.state) for k, a in evaluator.active.items()] == [("down", "firing")]
    assert await hub.report("web-1", int(time.time() * 1000), {"cpu": {"totalUsage": 1.0}})
    assert not evaluator.active  # back: resolved
