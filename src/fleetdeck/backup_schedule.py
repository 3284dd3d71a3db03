"""Backups the server makes itself: with `backup_dir` set, an archive every `backup_interval`
(`backup.create`, in a worker thread, beside the running server as the command makes it), the
newest `backup_keep` kept, the rest deleted.

The schedule survives restarts: the next one is due an interval after the newest archive in
the directory, at once when there is none. A failure (a full disk) is logged and tried again
after a tenth of the interval; the archives already there are left alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from fleetdeck import backup
from fleetdeck.config import Settings
from fleetdeck.store import audit
from fleetdeck.store.engine import Database

log = logging.getLogger(__name__)


@dataclass
class Status:
    """The last failure, for the settings page and the API (a success shows as an archive)."""

    failed_at: float | None = None  # Unix seconds
    error: str | None = None


def archives(directory: Path) -> list[Path]:
    """The scheduled archives in `directory`, oldest first (their names sort by time)."""
    return sorted(directory.glob(f"{backup.NAME_PREFIX}*.tar.gz"))


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives; returns what was deleted."""
    old = archives(directory)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def newest(directory: Path) -> float | None:
    """When the newest scheduled archive was written (Unix seconds); None when there is none."""
    found = archives(directory)
    return found[-1].stat().st_mtime if found else None


def seconds_until_due(directory: Path, interval: float, now: float | None = None) -> float:
    last = newest(directory)
    if last is None:
        return 0.0
    return max(0.0, last + interval - (time.time() if now is None else now))


async def run(config: Settings, db: Database, status: Status) -> None:
    """Until cancelled: back up when due, then prune."""
    assert config.backup_dir is not None
    directory = config.backup_dir
    if backup.sqlite_path(config.effective_database_url) is None:
        log.warning(
            "scheduled backups hold the data dir's keys, CA and metric WAL; the database is "
            "PostgreSQL: dump it with pg_dump after each"
        )
    while True:
        await asyncio.sleep(seconds_until_due(directory, config.backup_interval))
        target = directory / backup.default_name()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            manifest = await asyncio.to_thread(
                backup.create, config.data_dir, config.effective_database_url, target
            )
        except Exception as exc:
            log.exception("scheduled backup to %s failed; trying again later", target)
            status.failed_at, status.error = time.time(), str(exc)
            await asyncio.sleep(config.backup_interval / 10)
            continue
        status.failed_at = status.error = None
        removed = prune(directory, config.backup_keep)
        log.info("backup written to %s; %d older ones deleted", target, len(removed))
        try:
            async with db.write() as conn:
                await audit.record(
                    conn,
                    action="backup.create",
                    success=True,
                    actor="server",
                    resource="server",
                    details={"archive": str(target), "created": manifest["created"]},
                )
        except Exception:
            log.exception("could not record the backup in the audit log")
