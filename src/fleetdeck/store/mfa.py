"""TOTP recovery codes, stored as SHA-256 and usable once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import mfa_recovery_codes


async def replace_codes(conn: AsyncConnection, user_id: str, code_hashes: list[str]) -> None:
    await conn.execute(mfa_recovery_codes.delete().where(mfa_recovery_codes.c.user_id == user_id))
    if code_hashes:
        await conn.execute(
            mfa_recovery_codes.insert(),
            [{"user_id": user_id, "code_hash": h} for h in code_hashes],
        )


async def use_code(conn: AsyncConnection, user_id: str, code_hash: str) -> bool:
    """Mark an unused code as used; False when there is none such."""
    c = mfa_recovery_codes.c
    updated = await conn.execute(
        mfa_recovery_codes.update()
        .where(c.user_id == user_id, c.code_hash == code_hash, c.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return updated.rowcount == 1


async def remaining(conn: AsyncConnection, user_id: str) -> int:
    c = mfa_recovery_codes.c
    return int(
        (
            await conn.execute(
                sa.select(sa.func.count()).where(c.user_id == user_id, c.used_at.is_(None))
            )
        ).scalar_one()
    )
