"""The audit log API, its HMAC chain, tamper detection and `fleetdeck audit verify`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.store.tables import audit_events
from tests.conftest import ADMIN_PASSWORD, Api, make_settings


def _events(api: Api, headers: dict[str, str], query: str = "") -> list[dict[str, object]]:
    reply = api.client.get(f"/api/v1/audit{query}", headers=headers)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["events"])


def test_audit_lists_with_filters_and_pagination(api: Api) -> None:
    api.as_("bob")
    api.client.post("/api/v1/auth/login", json={"username": "bob", "password": "wrong"})
    admin = api.as_("alice")
    failures = _events(api, admin, "?action=auth.login&success=false")
    assert [(e["user"], e["success"]) for e in failures] == [("bob", False)]
    bobs = _events(api, admin, "?user=bob&action=auth.*")
    assert {e["action"] for e in bobs} == {"auth.login"} and len(bobs) == 2
    page = api.client.get("/api/v1/audit?limit=2", headers=admin)
    total = int(page.headers["X-Total-Count"])
    assert total == page.json()["total"] >= 5 and len(page.json()["events"]) == 2
    assert 'rel="next"' in page.headers["Link"]
    newest = page.json()["events"][0]
    assert newest["action"] == "auth.login" and newest["user"] == "admin"
    assert newest["timestamp"].endswith("Z") and len(newest["signature"]) == 64
    future = _events(api, admin, "?from=2999-01-01T00:00:00Z")
    assert future == []
    bad = api.client.get("/api/v1/audit?from=yesterday", headers=admin)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_TIME"
    backwards = api.client.get("/api/v1/audit?from=2025-02-01&to=2025-01-01", headers=admin)
    assert backwards.status_code == 400 and backwards.json()["code"] == "INVALID_RANGE"
    assert api.client.get("/api/v1/audit", headers=api.as_("bob")).status_code == 403


def _tamper(api: Api, statement: sa.Executable) -> None:
    async def run() -> None:
        async with api.app_state.db.write() as conn:
            await conn.execute(statement)

    api.client.portal.call(run)


def _verify(api: Api, headers: dict[str, str], event_id: object) -> dict[str, object]:
    reply = api.client.get(f"/api/v1/audit/{event_id}/verify", headers=headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_verify_detects_an_edited_and_a_deleted_event(api: Api) -> None:
    admin = api.as_("alice")
    for persona in ("bob", "charlie", "bob"):
        api.as_(persona)
    ids = [e["id"] for e in reversed(_events(api, admin))]
    assert all(_verify(api, admin, i)["verified"] for i in ids)
    first = _verify(api, admin, ids[0])
    assert first == {
        "id": ids[0],
        "available": True,
        "verified": True,
        "signature_valid": True,
        "chain_valid": True,
        "message": "signature and chain verified",
    }
    edited, deleted_next = ids[2], ids[4]
    _tamper(api, audit_events.update().where(audit_events.c.id == edited).values(actor="mallory"))
    verdict = _verify(api, admin, edited)
    assert verdict["verified"] is False and verdict["signature_valid"] is False
    assert "edited" in str(verdict["message"])
    _tamper(api, audit_events.delete().where(audit_events.c.id == ids[3]))
    after_gap = _verify(api, admin, deleted_next)
    assert after_gap["signature_valid"] is True and after_gap["chain_valid"] is False
    assert _verify(api, admin, ids[1])["verified"] is True
    missing = api.client.get("/api/v1/audit/999999/verify", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "AUDIT_EVENT_NOT_FOUND"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetdeck", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_verifies_the_whole_chain_and_flags_tampering(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
    data_dir = str(settings.data_dir)
    ok = _cli("audit", "verify", "--data-dir", data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "audit chain ok: 4 events, 0 invalid" in ok.stdout
    database = sqlite3.connect(settings.data_dir / "fleetdeck.db")
    with database:
        database.execute("DELETE FROM audit_events WHERE id = 2")
    database.close()
    broken = _cli("audit", "verify", "--data-dir", data_dir)
    assert broken.returncode == 1
    assert "audit chain FAILED: 3 events, 1 invalid" in broken.stdout
    assert "event 3:" in broken.stderr


def test_events_written_before_the_chain_are_signed_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        client.post("/api/v1/auth/login", json={"username": "wrong", "password": "wrong-pass"})
    database = sqlite3.connect(settings.data_dir / "fleetdeck.db")
    with database:  # as a database migrated from 0003 would look
        database.execute("UPDATE audit_events SET signature = NULL, prev_signature = NULL")
    database.close()
    with TestClient(create_app(settings)):
        pass
    ok = _cli("audit", "verify", "--data-dir", str(settings.data_dir))
    assert ok.returncode == 0 and "2 events, 0 invalid" in ok.stdout, ok.stdout + ok.stderr
