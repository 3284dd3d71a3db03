"""Runtime settings (Tyto `POST /api/v1/settings/refresh`), metric history retention and the
scheduled backups."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.api.deps import DatabaseDep, MonitorDep, SettingsDep, TsdbDep, client_ip, require
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339_from_epoch
from fleetdeck.config import Settings, parse_duration
from fleetdeck.errors import Invalid
from fleetdeck.store import audit, settings_kv
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore

router = APIRouter(prefix="/settings", tags=["settings"])

REFRESH_KEY = "refresh_interval"
RETENTION_KEY = "retention"  # seconds per resolution, for those changed through the API
Reader = Annotated[Principal, Depends(require("settings:read"))]
Writer = Annotated[Principal, Depends(require("settings:write"))]


async def _audit(
    conn: AsyncConnection,
    request: Request,
    principal: Principal,
    action: str,
    setting: str,
    details: dict[str, Any],
) -> None:
    """A change of a setting in the audit log: `action` (`settings.refresh`), `setting` the
    resource's name (`refresh_interval`)."""
    await audit.record(
        conn,
        action=action,
        success=True,
        actor=principal.user.username,
        ip=client_ip(request),
        resource=f"settings:{setting}",
        details=details,
    )


class RefreshInterval(BaseModel):
    interval: float = Field(ge=1, le=3600, description="Seconds between two snapshots.")


@router.get("/refresh", response_model=RefreshInterval)
async def get_refresh(monitor: MonitorDep, _: Reader) -> RefreshInterval:
    return RefreshInterval(interval=monitor.interval)


@router.post("/refresh", response_model=RefreshInterval)
async def set_refresh(
    body: RefreshInterval,
    request: Request,
    db: DatabaseDep,
    monitor: MonitorDep,
    principal: Writer,
) -> RefreshInterval:
    """Change the interval live; it is kept across restarts."""
    previous = monitor.interval
    async with db.write() as conn:
        await settings_kv.put(conn, REFRESH_KEY, body.interval)
        changed = {"from": previous, "to": body.interval}
        await _audit(conn, request, principal, "settings.refresh", "refresh_interval", changed)
    monitor.set_interval(body.interval)
    return RefreshInterval(interval=body.interval)


Tier = Literal["raw", "1m", "5m", "1h"]
# As in the configuration file: seconds, or a number with s, m, h or d; an hour at least (the
# hourly roll-up reads the hour of 1m data before it), a century at most.
Kept = Annotated[int, BeforeValidator(parse_duration), Field(ge=3600, le=100 * 365 * 86400)]


class Retention(BaseModel):
    retention_seconds: dict[str, int] = Field(
        description="What the store keeps now, per resolution."
    )
    configured_seconds: dict[str, int] = Field(
        description="What the configuration file and environment say (`retention_*`)."
    )
    overridden: list[str] = Field(description="Resolutions whose retention was set here instead.")


async def _overrides(conn: AsyncConnection) -> dict[str, int]:
    stored = await settings_kv.get(conn, RETENTION_KEY)
    return dict(stored) if isinstance(stored, dict) else {}


async def stored_retention(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return await _overrides(conn)


def effective_retention_ms(config: Settings, overrides: dict[str, int]) -> dict[str, int]:
    return {
        tier: overrides.get(tier, seconds) * 1000
        for tier, seconds in config.retention_seconds.items()
    }


def _retention(tsdb: TimeSeriesStore, config: Settings, overrides: dict[str, int]) -> Retention:
    return Retention(
        retention_seconds=tsdb.retention_seconds,
        configured_seconds=config.retention_seconds,
        overridden=[tier for tier in config.retention_seconds if tier in overrides],
    )


@router.get("/retention", response_model=Retention)
async def get_retention(
    _: Reader, tsdb: TsdbDep, config: SettingsDep, db: DatabaseDep
) -> Retention:
    """How long each resolution of the metric history is kept."""
    return _retention(tsdb, config, await stored_retention(db))


@router.put("/retention", response_model=Retention)
async def set_retention(
    changes: Annotated[dict[Tier, Kept], Body()],
    request: Request,
    principal: Writer,
    tsdb: TsdbDep,
    config: SettingsDep,
    db: DatabaseDep,
) -> Retention:
    """Change how long some resolutions are kept (`{"raw": "48h"}`), live and across
    restarts; the others stay as they were. A shorter retention deletes what falls out of it
    within a second."""
    if not changes:
        raise Invalid("give the retention of at least one of raw, 1m, 5m, 1h (seconds or 48h)")
    before = tsdb.retention_seconds
    async with db.write() as conn:
        overrides = await _overrides(conn)
        for tier, seconds in changes.items():  # the others keep what they had
            overrides[tier] = seconds
        await settings_kv.put(conn, RETENTION_KEY, overrides)
        changed = {"from": {k: before[k] for k in changes}, "to": dict(changes)}
        await _audit(conn, request, principal, "settings.retention", "retention", changed)
    tsdb.set_retention(effective_retention_ms(config, overrides))
    return _retention(tsdb, config, overrides)


@router.delete("/retention", response_model=Retention)
async def reset_retention(
    request: Request, principal: Writer, tsdb: TsdbDep, config: SettingsDep, db: DatabaseDep
) -> Retention:
    """Go back to the configured retention for every resolution."""
    async with db.write() as conn:
        await settings_kv.delete(conn, RETENTION_KEY)
        reset = {"to": "configured"}
        await _audit(conn, request, principal, "settings.retention", "retention", reset)
    tsdb.set_retention(config.retention_ms)
    return _retention(tsdb, config, {})


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
async def scheduled_backups(request: Request, _: Reader) -> Backups:
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
