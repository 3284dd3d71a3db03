"""Per-user preferences, such as which dashboard panels a user sees and in what order."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import user_preferences


async def get_panel_config(conn: AsyncConnection, user_id: str) -> Any | None:
    return (
        await conn.execute(
            sa.select(user_preferences.c.panel_config).where(user_preferences.c.user_id == user_id)
        )
    ).scalar_one_or_none()


async def put_panel_config(conn: AsyncConnection, user_id: str, config: Any) -> None:
    values = {"panel_config": config, "updated_at": utcnow()}
    updated = await conn.execute(
        user_preferences.update().where(user_preferences.c.user_id == user_id).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(user_preferences.insert().values(user_id=user_id, **values))
