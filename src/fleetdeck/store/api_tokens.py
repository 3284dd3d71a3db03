"""API tokens: named, scoped, optionally expiring; found by the SHA-256 of the raw token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import api_tokens, users


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    user_id: str
    username: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.user_id,
    users.c.username,
    api_tokens.c.name,
    api_tokens.c.prefix,
    api_tokens.c.scopes,
    api_tokens.c.created_at,
    api_tokens.c.expires_at,
    api_tokens.c.last_used_at,
)


def _row(row: sa.Row[tuple[object, ...]]) -> TokenRow:
    m = row._mapping
    return TokenRow(
        id=m["id"],
        user_id=m["user_id"],
        username=m["username"],
        name=m["name"],
        prefix=m["prefix"],
        scopes=tuple(m["scopes"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
    )


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(*_COLUMNS).join(users, users.c.id == api_tokens.c.user_id)


async def create(
    conn: AsyncConnection,
    *,
    user_id: str,
    name: str,
    prefix: str,
    token_hash: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> str:
    token_id = str(uuid.uuid4())
    await conn.execute(
        api_tokens.insert().values(
            id=token_id,
            user_id=user_id,
            name=name,
            prefix=prefix,
            token_hash=token_hash,
            scopes=scopes,
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    return token_id


async def find_valid(conn: AsyncConnection, token_hash: str) -> TokenRow | None:
    now = utcnow()
    row = (
        await conn.execute(
            _select().where(
                api_tokens.c.token_hash == token_hash,
                sa.or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            )
        )
    ).first()
    return None if row is None else _row(row)


async def touch(conn: AsyncConnection, token_id: str) -> None:
    await conn.execute(
        api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=utcnow())
    )


async def list_for(conn: AsyncConnection, user_id: str | None) -> list[TokenRow]:
    """One user's tokens, or everyone's for `None`; newest first."""
    stmt = _select().order_by(api_tokens.c.created_at.desc())
    if user_id is not None:
        stmt = stmt.where(api_tokens.c.user_id == user_id)
    return [_row(r) for r in await conn.execute(stmt)]


async def get(conn: AsyncConnection, token_id: str) -> TokenRow | None:
    row = (await conn.execute(_select().where(api_tokens.c.id == token_id))).first()
    return None if row is None else _row(row)


async def delete(conn: AsyncConnection, token_id: str) -> None:
    await conn.execute(api_tokens.delete().where(api_tokens.c.id == token_id))


async def delete_for_user(conn: AsyncConnection, user_id: str) -> int:
    return (await conn.execute(api_tokens.delete().where(api_tokens.c.user_id == user_id))).rowcount
