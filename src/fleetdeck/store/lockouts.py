"""Consecutive authentication failures per key (`user:NAME`, `ip:ADDRESS`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import auth_lockouts


@dataclass(frozen=True, slots=True)
class LockoutRow:
    key: str
    failures: int
    locked_until: datetime | None


async def get_many(conn: AsyncConnection, keys: list[str]) -> list[LockoutRow]:
    rows = await conn.execute(sa.select(auth_lockouts).where(auth_lockouts.c.key.in_(keys)))
    return [LockoutRow(r.key, r.failures, r.locked_until) for r in rows]


async def put(
    conn: AsyncConnection, key: str, failures: int, locked_until: datetime | None
) -> None:
    values = {"failures": failures, "locked_until": locked_until, "updated_at": utcnow()}
    updated = await conn.execute(
        auth_lockouts.update().where(auth_lockouts.c.key == key).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(auth_lockouts.insert().values(key=key, **values))


async def clear(conn: AsyncConnection, keys: list[str]) -> int:
    return (
        await conn.execute(auth_lockouts.delete().where(auth_lockouts.c.key.in_(keys)))
    ).rowcount


async def locked(conn: AsyncConnection) -> list[LockoutRow]:
    now = utcnow()
    rows = await conn.execute(
        sa.select(auth_lockouts).where(auth_lockouts.c.locked_until > now).order_by("key")
    )
    return [LockoutRow(r.key, r.failures, r.locked_until) for r in rows]
