"""Runtime settings (Tyto `POST /api/v1/settings/refresh`)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from fleetdeck.api.deps import DatabaseDep, MonitorDep, client_ip, require
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339_from_epoch
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


class Archive(BaseModel):
    name: str
    size: int = Field(description="Bytes.")
    created: str = Field(description="When it was written (RFC 3339).")


class Backups(BaseModel):
    directory: str | None = Field(description="`backup_dir`; null when backups are not scheduled.")
    interval_seconds: int
    keep: int
    backups: list[Archive] = Field(description="The scheduled archives there, newest first.")
    failed_at: str | None = Field(description="When the last attempt failed, if it did.")
    error: str | None


@router.get("/backups", response_model=Backups)
async def scheduled_backups(
    request: Request, _: Annotated[Principal, Depends(require("settings:read"))]
) -> Backups:
    """The server's scheduled backups (`backup_dir`): what is there, and whether the last
    attempt failed. Backups made with `fleetdeck backup create` elsewhere are not listed."""
    return Backups(**backups_of(request.app))


def backups_of(app: Any) -> dict[str, Any]:
    config = app.state.settings
    found: list[dict[str, Any]] = []
    failed_at = error = None
    if config.backup_dir is not None:
        from fleetdeck.backup_schedule import archives

        for path in reversed(archives(config.backup_dir)):
            with contextlib.suppress(FileNotFoundError):  # pruned meanwhile
                info = path.stat()
                found.append(
                    {"name": path.name, "size": info.st_size,
                     "created": rfc3339_from_epoch(info.st_mtime)}
                )  # fmt: skip
        status = getattr(app.state, "backup_status", None)
        if status is not None and status.failed_at is not None:
            failed_at, error = rfc3339_from_epoch(status.failed_at), status.error
    return {
        "directory": None if config.backup_dir is None else str(config.backup_dir),
        "interval_seconds": config.backup_interval,
        "keep": config.backup_keep,
        "backups": found,
        "failed_at": failed_at,
        "error": error,
    }
