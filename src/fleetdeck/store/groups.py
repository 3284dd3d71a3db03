"""Host groups and membership. Functions take a connection and never commit."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import host_group_members, host_groups


@dataclass(frozen=True, slots=True)
class GroupRow:
    id: str
    name: str
    description: str
    members: tuple[str, ...]


async def list_all(conn: AsyncConnection) -> list[GroupRow]:
    rows = (await conn.execute(sa.select(host_groups).order_by(host_groups.c.id))).mappings().all()
    members: dict[str, list[str]] = {r["id"]: [] for r in rows}
    result = await conn.execute(
        sa.select(host_group_members.c.group_id, host_group_members.c.agent_id).order_by(
            host_group_members.c.agent_id
        )
    )
    for group_id, agent_id in result:
        members.setdefault(group_id, []).append(agent_id)
    return [GroupRow(r["id"], r["name"], r["description"], tuple(members[r["id"]])) for r in rows]


async def get(conn: AsyncConnection, group_id: str) -> GroupRow | None:
    return next((g for g in await list_all(conn) if g.id == group_id), None)


async def put(conn: AsyncConnection, group_id: str, name: str, description: str) -> None:
    updated = await conn.execute(
        host_groups.update()
        .where(host_groups.c.id == group_id)
        .values(name=name, description=description)
    )
    if updated.rowcount == 0:
        await conn.execute(
            host_groups.insert().values(
                id=group_id, name=name, description=description, created_at=utcnow()
            )
        )


async def delete(conn: AsyncConnection, group_id: str) -> None:
    await conn.execute(host_group_members.delete().where(host_group_members.c.group_id == group_id))
    await conn.execute(host_groups.delete().where(host_groups.c.id == group_id))


async def add_member(conn: AsyncConnection, group_id: str, agent_id: str) -> bool:
    exists = (
        await conn.execute(
            sa.select(host_group_members.c.agent_id).where(
                host_group_members.c.group_id == group_id,
                host_group_members.c.agent_id == agent_id,
            )
        )
    ).first()
    if exists:
        return False
    await conn.execute(host_group_members.insert().values(group_id=group_id, agent_id=agent_id))
    return True


async def remove_member(conn: AsyncConnection, group_id: str, agent_id: str) -> bool:
    removed = await conn.execute(
        host_group_members.delete().where(
            host_group_members.c.group_id == group_id, host_group_members.c.agent_id == agent_id
        )
    )
    return removed.rowcount > 0


async def membership(conn: AsyncConnection) -> dict[str, frozenset[str]]:
    """agent id -> the groups it belongs to."""
    found: dict[str, set[str]] = {}
    for group_id, agent_id in await conn.execute(sa.select(host_group_members)):
        found.setdefault(agent_id, set()).add(group_id)
    return {agent: frozenset(groups) for agent, groups in found.items()}
