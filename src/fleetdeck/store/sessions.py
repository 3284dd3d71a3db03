"""Login sessions, looked up by the SHA-256 of their token (the raw token is never stored)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import sessions


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    user_id: str
    expires_at: datetime


async def create(
    conn: AsyncConnection, *, token_hash: str, user_id: str, expires_at: datetime, ip: str | None
) -> str:
    session_id = str(uuid.uuid4())
    await conn.execute(
        sessions.insert().values(
            id=session_id,
            token_hash=token_hash,
            user_id=user_id,
            created_at=utcnow(),
            expires_at=expires_at,
            ip=ip,
        )
    )
    return session_id


async def find_valid(conn: AsyncConnection, token_hash: str) -> SessionRow | None:
    row = (
        await conn.execute(
            sa.select(sessions.c.id, sessions.c.user_id, sessions.c.expires_at).where(
                sessions.c.token_hash == token_hash, sessions.c.expires_at > utcnow()
            )
        )
    ).first()
    return None if row is None else SessionRow(row.id, row.user_id, row.expires_at)


async def delete(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(sessions.delete().where(sessions.c.id == session_id))


async def delete_for_user(
    conn: AsyncConnection, user_id: str, *, except_id: str | None = None
) -> int:
    stmt = sessions.delete().where(sessions.c.user_id == user_id)
    if except_id is not None:
        stmt = stmt.where(sessions.c.id != except_id)
    return (await conn.execute(stmt)).rowcount


async def delete_expired(conn: AsyncConnection) -> int:
    return (await conn.execute(sessions.delete().where(sessions.c.expires_at <= utcnow()))).rowcount
