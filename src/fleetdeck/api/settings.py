"""Runtime settings (Tyto `POST /api/v1/settings/refresh`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from fleetdeck.api.deps import DatabaseDep, MonitorDep, client_ip, require
from fleetdeck.auth.service import Principal
from fleetdeck.store import audit, settings_kv

router = APIRouter(prefix="/settings", tags=["settings"])

REFRESH_KEY = "refresh_interval"


class RefreshInterval(BaseModel):
    interval: float = Field(ge=1, le=3600, description="Seconds between two snapshots.")


@router.get("/refresh", response_model=RefreshInterval)
async def get_refresh(
    monitor: MonitorDep, _: Annotated[Principal, Depends(require("settings:read"))]
) -> RefreshInterval:
    return RefreshInterval(interval=monitor.interval)


@router.post("/refresh", response_model=RefreshInterval)
async def set_refresh(
    body: RefreshInterval,
    request: Request,
    db: DatabaseDep,
    monitor: MonitorDep,
    principal: Annotated[Principal, Depends(require("settings:write"))],
) -> RefreshInterval:
    """Change the interval live; it is kept across restarts."""
    previous = monitor.interval
    async with db.write() as conn:
        await settings_kv.put(conn, REFRESH_KEY, body.interval)
        await audit.record(
            conn,
            action="settings.refresh",
            success=True,
            actor=principal.user.username,
            ip=client_ip(request),
            resource="settings:refresh_interval",
            details={"from": previous, "to": body.interval},
        )
    monitor.set_interval(body.interval)
    return RefreshInterval(interval=body.interval)
