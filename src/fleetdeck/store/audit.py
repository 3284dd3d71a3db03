"""The audit log: one row per login, logout and state-changing call."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import audit_events


async def record(
    conn: AsyncConnection,
    *,
    action: str,
    success: bool,
    actor: str | None = None,
    ip: str | None = None,
    resource: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        audit_events.insert().values(
            timestamp=utcnow(),
            actor=actor,
            ip=ip,
            action=action,
            resource=resource,
            success=success,
            details=details or {},
        )
    )


async def recent(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    )
    return [dict(r) for r in rows.mappings()]
