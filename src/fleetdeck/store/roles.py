"""Roles. System roles are written from code at start so their permissions follow releases."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.store.tables import roles


async def upsert_system_roles(
    conn: AsyncConnection, definitions: Iterable[tuple[str, str, str, tuple[str, ...]]]
) -> None:
    """Insert or refresh (id, name, description, permissions) system roles."""
    for role_id, name, description, permissions in definitions:
        values = {
            "name": name,
            "description": description,
            "permissions": list(permissions),
            "is_system": True,
        }
        updated = await conn.execute(roles.update().where(roles.c.id == role_id).values(**values))
        if updated.rowcount == 0:
            await conn.execute(roles.insert().values(id=role_id, **values))


async def list_ids(conn: AsyncConnection) -> list[str]:
    return list((await conn.execute(sa.select(roles.c.id).order_by(roles.c.id))).scalars())
