"""Roles. System roles are written from code at start so their permissions follow releases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class RoleRow:
    id: str
    name: str
    description: str
    permissions: tuple[str, ...]
    is_system: bool
    host_groups: tuple[str, ...]


def _row(row: sa.RowMapping) -> RoleRow:
    return RoleRow(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        permissions=tuple(row["permissions"]),
        is_system=row["is_system"],
        host_groups=tuple(row["host_groups"] or ()),
    )


async def list_all(conn: AsyncConnection) -> list[RoleRow]:
    rows = await conn.execute(sa.select(roles).order_by(roles.c.is_system.desc(), roles.c.id))
    return [_row(r) for r in rows.mappings()]


async def get(conn: AsyncConnection, role_id: str) -> RoleRow | None:
    row = (await conn.execute(sa.select(roles).where(roles.c.id == role_id))).mappings().first()
    return None if row is None else _row(row)


async def create(conn: AsyncConnection, role: RoleRow) -> None:
    await conn.execute(
        roles.insert().values(
            id=role.id,
            name=role.name,
            description=role.description,
            permissions=list(role.permissions),
            is_system=False,
            host_groups=list(role.host_groups),
        )
    )


async def update(conn: AsyncConnection, role: RoleRow) -> None:
    await conn.execute(
        roles.update()
        .where(roles.c.id == role.id)
        .values(
            name=role.name,
            description=role.description,
            permissions=list(role.permissions),
            host_groups=list(role.host_groups),
        )
    )


async def delete(conn: AsyncConnection, role_id: str) -> None:
    await conn.execute(roles.delete().where(roles.c.id == role_id))
