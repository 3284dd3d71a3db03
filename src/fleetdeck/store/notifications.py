"""Notification channels and the outbox. Functions take a connection and never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import notification_channels, notification_outbox


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: str
    kind: str
    name: str
    config: dict[str, Any]  # secrets sealed (auth/keys.SecretBox)
    enabled: bool
    min_level: str


def _channel(row: sa.RowMapping) -> ChannelRow:
    return ChannelRow(
        row["id"], row["kind"], row["name"], dict(row["config"]), row["enabled"], row["min_level"]
    )


async def list_channels(conn: AsyncConnection, kind: str | None = None) -> list[ChannelRow]:
    stmt = sa.select(notification_channels).order_by(notification_channels.c.created_at)
    if kind:
        stmt = stmt.where(notification_channels.c.kind == kind)
    return [_channel(r) for r in (await conn.execute(stmt)).mappings()]


async def get_channel(conn: AsyncConnection, channel_id: str) -> ChannelRow | None:
    row = (
        (
            await conn.execute(
                sa.select(notification_channels).where(notification_channels.c.id == channel_id)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _channel(row)


async def put_channel(
    conn: AsyncConnection,
    *,
    channel_id: str | None,
    kind: str,
    name: str,
    config: dict[str, Any],
    enabled: bool,
    min_level: str,
) -> str:
    values = {"kind": kind, "name": name, "config": config, "enabled": enabled,
              "min_level": min_level}  # fmt: skip
    if channel_id is not None:
        await conn.execute(
            notification_channels.update()
            .where(notification_channels.c.id == channel_id)
            .values(**values)
        )
        return channel_id
    new_id = str(uuid.uuid4())
    await conn.execute(
        notification_channels.insert().values(id=new_id, created_at=utcnow(), **values)
    )
    return new_id


async def delete_channel(conn: AsyncConnection, channel_id: str) -> None:
    await conn.execute(
        notification_channels.delete().where(notification_channels.c.id == channel_id)
    )


async def enqueue(
    conn: AsyncConnection,
    channel_id: str,
    dedupe_key: str,
    payload: dict[str, Any],
    not_before: datetime | None = None,
) -> bool:
    """Add a message unless the same (channel, key) is already queued or sent."""
    exists = (
        await conn.execute(
            sa.select(notification_outbox.c.id).where(
                notification_outbox.c.channel_id == channel_id,
                notification_outbox.c.dedupe_key == dedupe_key,
            )
        )
    ).first()
    if exists:
        return False
    now = utcnow()
    await conn.execute(
        notification_outbox.insert().values(
            channel_id=channel_id,
            dedupe_key=dedupe_key,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=max(now, not_before) if not_before else now,
            created_at=now,
        )
    )
    return True


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    channel_id: str
    payload: dict[str, Any]
    attempts: int


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[Message]:
    c = notification_outbox.c
    rows = await conn.execute(
        sa.select(c.id, c.channel_id, c.payload, c.attempts)
        .where(c.status == "pending", c.next_attempt_at <= now)
        .order_by(c.next_attempt_at, c.id)
        .limit(limit)
    )
    return [Message(r.id, r.channel_id, dict(r.payload), r.attempts) for r in rows]


async def next_due(conn: AsyncConnection) -> datetime | None:
    c = notification_outbox.c
    soonest: datetime | None = (
        await conn.execute(sa.select(sa.func.min(c.next_attempt_at)).where(c.status == "pending"))
    ).scalar_one_or_none()
    return soonest


async def claim(conn: AsyncConnection, message_id: int, lease: timedelta) -> bool:
    """Take a due message for one send: a conditional update, so that of several workers or
    replicas exactly one wins; the lease hides it from the others until marked or expired."""
    c = notification_outbox.c
    now = utcnow()
    taken = await conn.execute(
        notification_outbox.update()
        .where(c.id == message_id, c.status == "pending", c.next_attempt_at <= now)
        .values(next_attempt_at=now + lease)
    )
    return taken.rowcount == 1


async def release(conn: AsyncConnection, message_ids: list[int]) -> None:
    """Give claimed messages back before their lease runs out: their send was cut short by
    the server stopping, and the next start should send them at once, not a lease later."""
    c = notification_outbox.c
    await conn.execute(
        notification_outbox.update()
        .where(c.id.in_(message_ids), c.status == "pending")
        .values(next_attempt_at=utcnow())
    )


async def mark_sent(conn: AsyncConnection, message_id: int, status: int | None) -> None:
    c = notification_outbox.c
    await conn.execute(
        notification_outbox.update()
        .where(c.id == message_id)
        .values(status="sent", sent_at=utcnow(), last_status=status, last_error=None,
                attempts=c.attempts + 1)
    )  # fmt: skip


async def mark_failed(
    conn: AsyncConnection,
    message_id: int,
    *,
    error: str,
    status: int | None,
    retry_at: datetime | None,
) -> None:
    """Count a failed attempt; with no `retry_at` the message goes to the dead letters."""
    c = notification_outbox.c
    await conn.execute(
        notification_outbox.update()
        .where(c.id == message_id)
        .values(
            status="pending" if retry_at else "dead",
            attempts=c.attempts + 1,
            last_error=error[:500],
            last_status=status,
            next_attempt_at=retry_at or utcnow(),
        )
    )


async def stats(conn: AsyncConnection) -> dict[str, int]:
    c = notification_outbox.c
    rows = await conn.execute(sa.select(c.status, sa.func.count()).group_by(c.status))
    counts = {"pending": 0, "sent": 0, "dead": 0}
    counts.update({status: int(n) for status, n in rows})
    return counts


async def listing(
    conn: AsyncConnection,
    *,
    status: str | None,
    channel_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    c = notification_outbox.c
    where: list[sa.ColumnElement[bool]] = []
    if status:
        where.append(c.status == status)
    if channel_id:
        where.append(c.channel_id == channel_id)
    total = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(notification_outbox).where(*where)
        )
    ).scalar_one()
    rows = await conn.execute(
        sa.select(notification_outbox)
        .where(*where)
        .order_by(c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [dict(r) for r in rows.mappings()], int(total)


async def requeue_dead(conn: AsyncConnection, ids: list[int] | None) -> int:
    c = notification_outbox.c
    stmt = notification_outbox.update().where(c.status == "dead")
    if ids is not None:
        stmt = stmt.where(c.id.in_(ids))
    return (
        await conn.execute(stmt.values(status="pending", attempts=0, next_attempt_at=utcnow()))
    ).rowcount


async def delete_dead(conn: AsyncConnection, ids: list[int] | None) -> int:
    c = notification_outbox.c
    stmt = notification_outbox.delete().where(c.status == "dead")
    if ids is not None:
        stmt = stmt.where(c.id.in_(ids))
    return (await conn.execute(stmt)).rowcount


async def oldest_pending(conn: AsyncConnection) -> datetime | None:
    c = notification_outbox.c
    oldest: datetime | None = (
        await conn.execute(sa.select(sa.func.min(c.created_at)).where(c.status == "pending"))
    ).scalar_one_or_none()
    return oldest


async def open_group(conn: AsyncConnection, channel_id: str, now: datetime) -> datetime | None:
    """When the channel's waiting group (messages held back, not yet tried) leaves, if any."""
    c = notification_outbox.c
    leaves: datetime | None = (
        await conn.execute(
            sa.select(sa.func.min(c.next_attempt_at)).where(
                c.channel_id == channel_id,
                c.status == "pending",
                c.attempts == 0,
                c.next_attempt_at > now,
            )
        )
    ).scalar_one_or_none()
    return leaves
