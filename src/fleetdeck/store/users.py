"""Users and their role bindings. Functions take a connection and never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import roles, user_roles, users


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    username: str
    email: str | None
    password_hash: str | None
    auth_provider: str
    must_change_password: bool
    disabled: bool
    created_at: datetime
    last_login: datetime | None
    roles: tuple[str, ...]
    permissions: tuple[str, ...]


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one())


async def create(
    conn: AsyncConnection,
    *,
    username: str,
    password_hash: str | None,
    email: str | None = None,
    role_ids: tuple[str, ...] = (),
    must_change_password: bool = False,
) -> str:
    user_id = str(uuid.uuid4())
    await conn.execute(
        users.insert().values(
            id=user_id,
            username=username,
            email=email,
            password_hash=password_hash,
            must_change_password=must_change_password,
            created_at=utcnow(),
        )
    )
    if role_ids:
        await conn.execute(
            user_roles.insert(), [{"user_id": user_id, "role_id": r} for r in role_ids]
        )
    return user_id


async def _load(conn: AsyncConnection, where: sa.ColumnElement[bool]) -> UserRow | None:
    row = (await conn.execute(sa.select(users).where(where))).mappings().first()
    if row is None:
        return None
    bound = (
        await conn.execute(
            sa.select(roles.c.id, roles.c.permissions)
            .join(user_roles, user_roles.c.role_id == roles.c.id)
            .where(user_roles.c.user_id == row["id"])
            .order_by(roles.c.id)
        )
    ).all()
    permissions = sorted({p for _, perms in bound for p in perms})
    return UserRow(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        password_hash=row["password_hash"],
        auth_provider=row["auth_provider"],
        must_change_password=row["must_change_password"],
        disabled=row["disabled"],
        created_at=row["created_at"],
        last_login=row["last_login"],
        roles=tuple(r for r, _ in bound),
        permissions=tuple(permissions),
    )


async def get(conn: AsyncConnection, user_id: str) -> UserRow | None:
    return await _load(conn, users.c.id == user_id)


async def get_by_username(conn: AsyncConnection, username: str) -> UserRow | None:
    return await _load(conn, users.c.username == username)


async def set_password(
    conn: AsyncConnection, user_id: str, password_hash: str, *, must_change: bool
) -> None:
    await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, must_change_password=must_change)
    )


async def touch_login(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(last_login=utcnow()))


async def update_email(conn: AsyncConnection, user_id: str, email: str | None) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(email=email))
