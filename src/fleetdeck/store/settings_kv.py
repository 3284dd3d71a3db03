"""Runtime settings changed through the API (e.g. the refresh interval), kept across restarts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import settings_kv


async def get(conn: AsyncConnection, key: str) -> Any | None:
    return (
        await conn.execute(sa.select(settings_kv.c.value).where(settings_kv.c.key == key))
    ).scalar_one_or_none()


async def put(conn: AsyncConnection, key: str, value: Any) -> None:
    updated = await conn.execute(
        settings_kv.update()
        .where(settings_kv.c.key == key)
        .values(value=value, updated_at=utcnow())
    )
    if updated.rowcount == 0:
        await conn.execute(settings_kv.insert().values(key=key, value=value, updated_at=utcnow()))


async def delete(conn: AsyncConnection, key: str) -> None:
    await conn.execute(settings_kv.delete().where(settings_kv.c.key == key))
