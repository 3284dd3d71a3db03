"""Users, sessions, settings and audit rows behave the same on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from fleetdeck.auth.permissions import SYSTEM_ROLES
from fleetdeck.clock import utcnow
from fleetdeck.store import audit, roles, sessions, settings_kv, users
from fleetdeck.store.engine import Database


async def test_user_carries_its_roles_and_their_permissions(db: Database) -> None:
    async with db.write() as conn:
        user_id = await users.create(
            conn, username="bob", password_hash="h", role_ids=("operator", "viewer")
        )
    async with db.read() as conn:
        bob = await users.get(conn, user_id)
    assert bob is not None
    assert bob.roles == ("operator", "viewer")
    assert "processes:*" in bob.permissions and "metrics:read" in bob.permissions
    assert bob.created_at <= utcnow()


async def test_usernames_are_unique(db: Database) -> None:
    async with db.write() as conn:
        await users.create(conn, username="bob", password_hash="h")
    with pytest.raises(sa.exc.IntegrityError):
        async with db.write() as conn:
            await users.create(conn, username="bob", password_hash="h")
    async with db.read() as conn:
        assert await users.count(conn) == 1


async def test_a_failed_transaction_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await users.create(conn, username="ghost", password_hash="h")
            raise RuntimeError("boom")
    async with db.read() as conn:
        assert await users.get_by_username(conn, "ghost") is None


async def test_expired_sessions_are_not_found_and_are_swept(db: Database) -> None:
    async with db.write() as conn:
        uid = await users.create(conn, username="bob", password_hash="h")
        await sessions.create(
            conn,
            token_hash="a" * 64,
            user_id=uid,
            expires_at=utcnow() + timedelta(hours=1),
            ip=None,
        )
        await sessions.create(
            conn,
            token_hash="b" * 64,
            user_id=uid,
            expires_at=utcnow() - timedelta(seconds=1),
            ip=None,
        )
    async with db.read() as conn:
        assert await sessions.find_valid(conn, "a" * 64) is not None
        assert await sessions.find_valid(conn, "b" * 64) is None
    async with db.write() as conn:
        assert await sessions.delete_expired(conn) == 1


async def test_settings_values_round_trip_and_overwrite(db: Database) -> None:
    async with db.write() as conn:
        await settings_kv.put(conn, "refresh_interval", 5.0)
        await settings_kv.put(conn, "refresh_interval", 2.5)
    async with db.read() as conn:
        assert await settings_kv.get(conn, "refresh_interval") == 2.5
        assert await settings_kv.get(conn, "missing") is None


async def test_audit_records_keep_their_details(db: Database) -> None:
    async with db.write() as conn:
        await audit.record(conn, action="process.signal", success=True, details={"signal": 15})
    async with db.read() as conn:
        (event,) = await audit.recent(conn)
    assert event["action"] == "process.signal" and event["details"] == {"signal": 15}


async def test_system_roles_are_refreshed_not_duplicated(db: Database) -> None:
    async with db.write() as conn:
        await roles.upsert_system_roles(conn, SYSTEM_ROLES)
        assert await roles.list_ids(conn) == ["admin", "operator", "viewer"]


async def test_concurrent_audit_writes_keep_one_unbroken_chain(db: Database) -> None:
    import asyncio

    async def write(i: int) -> None:
        async with db.write() as conn:
            await audit.record(conn, action="test.concurrent", success=True, details={"i": i})

    await asyncio.gather(*(write(i) for i in range(30)))
    assert db.audit_key is not None
    async with db.read() as conn:
        verdicts = [v async for v in audit.walk(conn, db.audit_key, batch=7)]
    assert len(verdicts) == 30 and all(v.valid for v in verdicts), [
        v for v in verdicts if not v.valid
    ]


async def test_a_queued_message_is_claimed_by_one_worker_only(db: Database) -> None:
    from fleetdeck.store import notifications

    async with db.write() as conn:
        channel = await notifications.put_channel(
            conn, channel_id=None, kind="webhook", name="w", config={"url": "http://x/"},
            enabled=True, min_level="warning",
        )  # fmt: skip
        await notifications.enqueue(conn, channel, "k", {"event": "test"})
        (message,) = await notifications.due(conn, utcnow(), 10)
        lease = timedelta(seconds=60)
        assert await notifications.claim(conn, message.id, lease) is True
        assert await notifications.claim(conn, message.id, lease) is False
        assert await notifications.due(conn, utcnow(), 10) == []  # hidden while leased
        assert await notifications.due(conn, utcnow() + timedelta(seconds=61), 10) != []
