"""Users and their role bindings. Functions take a connection and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
    totp_secret: str | None = None
    totp_enabled: bool = False
    # (permissions, host groups) per bound role; empty groups = every host.
    grants: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


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
    auth_provider: str = "local",
) -> str:
    user_id = str(uuid.uuid4())
    await conn.execute(
        users.insert().values(
            id=user_id,
            username=username,
            email=email,
            password_hash=password_hash,
            must_change_password=must_change_password,
            auth_provider=auth_provider,
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
    return (await _with_roles(conn, [row]))[0]


async def _with_roles(conn: AsyncConnection, rows: Sequence[sa.RowMapping]) -> list[UserRow]:
    ids = [row["id"] for row in rows]
    bound: dict[str, list[tuple[str, list[str], list[str]]]] = {i: [] for i in ids}
    if ids:
        result = await conn.execute(
            sa.select(user_roles.c.user_id, roles.c.id, roles.c.permissions, roles.c.host_groups)
            .join(user_roles, user_roles.c.role_id == roles.c.id)
            .where(user_roles.c.user_id.in_(ids))
            .order_by(roles.c.id)
        )
        for user_id, role_id, perms, groups in result:
            bound[user_id].append((role_id, perms, groups or []))
    return [_row(row, bound[row["id"]]) for row in rows]


def _row(row: sa.RowMapping, bound: list[tuple[str, list[str], list[str]]]) -> UserRow:
    permissions = sorted({p for _, perms, groups in bound if not groups for p in perms})
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
        roles=tuple(r for r, _, _ in bound),
        permissions=tuple(permissions),
        totp_secret=row["totp_secret"],
        totp_enabled=row["totp_enabled"],
        grants=tuple((tuple(perms), tuple(groups)) for _, perms, groups in bound),
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


async def list_all(conn: AsyncConnection, *, limit: int, offset: int) -> tuple[list[UserRow], int]:
    total = await count(conn)
    rows = (
        (
            await conn.execute(
                sa.select(users).order_by(users.c.username).limit(limit).offset(offset)
            )
        )
        .mappings()
        .all()
    )
    return await _with_roles(conn, rows), total


async def set_roles(conn: AsyncConnection, user_id: str, role_ids: Sequence[str]) -> None:
    await conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
    if role_ids:
        await conn.execute(
            user_roles.insert(), [{"user_id": user_id, "role_id": r} for r in role_ids]
        )


async def set_disabled(conn: AsyncConnection, user_id: str, disabled: bool) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(disabled=disabled))


async def set_totp(
    conn: AsyncConnection, user_id: str, *, secret: str | None, enabled: bool
) -> None:
    await conn.execute(
        users.update().where(users.c.id == user_id).values(totp_secret=secret, totp_enabled=enabled)
    )


async def active_holders_of(conn: AsyncConnection, role_id: str) -> list[str]:
    """Ids of enabled users bound to `role_id`."""
    result = await conn.execute(
        sa.select(users.c.id)
        .join(user_roles, user_roles.c.user_id == users.c.id)
        .where(user_roles.c.role_id == role_id, users.c.disabled.is_(False))
    )
    return list(result.scalars())


async def mfa_coverage(conn: AsyncConnection) -> tuple[int, int]:
    """(enabled local users with TOTP on, enabled local users)."""
    local = sa.and_(users.c.disabled.is_(False), users.c.auth_provider == "local")
    total = (await conn.execute(sa.select(sa.func.count()).where(local))).scalar_one()
    with_mfa = (
        await conn.execute(sa.select(sa.func.count()).where(local, users.c.totp_enabled.is_(True)))
    ).scalar_one()
    return int(with_mfa), int(total)
