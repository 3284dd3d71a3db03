"""Backups the server makes itself, in a real app with its database and store."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fastapi.testclient import TestClient

from fleetdeck import backup
from fleetdeck.app import create_app
from fleetdeck.backup_schedule import archives, seconds_until_due
from tests.conftest import ADMIN_PASSWORD, make_settings


def test_the_server_backs_itself_up_and_keeps_the_newest(tmp_path: Path) -> None:
    shelf = tmp_path / "backups"
    settings = make_settings(tmp_path, backup_dir=shelf, backup_interval=2, backup_keep=2)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _created(client) < 3:
            time.sleep(0.3)
        kept = archives(shelf)
        assert len(kept) == 2, [p.name for p in kept]  # the first one was pruned
        assert _created(client) >= 3
        admin = _admin(client)
        listed = client.get("/api/v1/settings/backups", headers=admin).json()
        assert listed["directory"] == str(shelf) and listed["keep"] == 2
        names = [b["name"] for b in listed["backups"]]
        assert names[:2] == sorted(names[:2], reverse=True) and listed["error"] is None
        page = client.get("/settings").text
        assert names[0] in page and "Every 2s" in page
        scrape = client.get("/metrics", headers=admin).text
        stamp = re.search(r"^fleetdeck_backup_last_timestamp_seconds (\S+)$", scrape, re.M)
        assert stamp and abs(float(stamp.group(1)) - time.time()) < 60, scrape[-600:]
    for path in kept:
        manifest = backup.verify(path)
        assert manifest["database"] == "sqlite" and "keys/audit.key" in manifest["files"]
        assert path.stat().st_mode & 0o777 == 0o600
    assert not list(shelf.glob(".fleetdeck-backup-*"))  # no staging left behind


def _admin(client: TestClient) -> dict[str, str]:
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    reply = client.post("/api/v1/auth/login", json=login)
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_a_failing_schedule_is_said_on_the_page_and_the_api(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = make_settings(tmp_path, backup_dir=blocker / "backups", backup_interval=3600)
    with TestClient(create_app(settings)) as client:
        admin = _admin(client)
        deadline = time.monotonic() + 20
        listed: dict[str, object] = {}
        while time.monotonic() < deadline:
            listed = client.get("/api/v1/settings/backups", headers=admin).json()
            if listed["error"]:
                break
            time.sleep(0.2)
        assert listed["error"] and listed["failed_at"] and listed["backups"] == []
        assert "The last attempt failed" in client.get("/settings").text


def test_without_backup_dir_the_page_says_how_to_back_up(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        admin = _admin(client)
        listed = client.get("/api/v1/settings/backups", headers=admin).json()
        assert listed["directory"] is None and listed["backups"] == []
        assert "fleetdeck backup create" in client.get("/settings").text
        assert "fleetdeck_backup_last" not in client.get("/metrics", headers=admin).text


def _created(client: TestClient) -> int:
    """Scheduled backups recorded in the audit log."""
    from fleetdeck.store import audit

    async def count() -> int:
        async with client.app.state.db.read() as conn:  # type: ignore[attr-defined]
            found, _ = await audit.search(
                conn, audit.AuditFilter(user="server", action="backup.create"), limit=100, offset=0
            )
        return len(found)

    return int(client.portal.call(count))


def test_the_schedule_counts_from_the_newest_archive(tmp_path: Path) -> None:
    """A restart does not back up at once when the last backup is recent."""
    assert seconds_until_due(tmp_path, 3600, now=1_000_000) == 0  # none yet: at once
    older = tmp_path / "fleetdeck-backup-20261130-000000.tar.gz"
    newer = tmp_path / "fleetdeck-backup-20261201-000000.tar.gz"
    for path, mtime in ((older, 990_000), (newer, 999_000)):
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    assert seconds_until_due(tmp_path, 3600, now=1_000_000) == 2600
    assert seconds_until_due(tmp_path, 600, now=1_000_000) == 0  # overdue: at once
