"""Encrypted configuration export/import, the security status, and CLI password recovery."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from tests.conftest import ADMIN_PASSWORD, Api, make_settings

PASSPHRASE = "correct horse battery"


def _login(client: TestClient, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
    assert reply.status_code == 200, reply.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_export_then_import_into_another_server(api: Api, tmp_path: Path) -> None:
    admin = api.as_("alice")
    api.client.post(
        "/api/v1/roles",
        json={"name": "Watcher", "permissions": ["metrics:read"], "host_groups": ["web"]},
        headers=admin,
    )
    api.client.post("/api/v1/settings/refresh", json={"interval": 9}, headers=admin)
    exported = api.client.post(
        "/api/v1/config/export", json={"passphrase": PASSPHRASE}, headers=admin
    )
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["roles"] == 1 and body["settings"] == 1
    assert b"Watcher" not in base64.b64decode(body["data"])  # encrypted, not encoded

    with TestClient(create_app(make_settings(tmp_path / "other"))) as other:
        headers = _login(other)
        wrong = other.post(
            "/api/v1/config/import",
            json={"data": body["data"], "passphrase": "not the passphrase"},
            headers=headers,
        )
        assert wrong.status_code == 400 and wrong.json()["code"] == "BUNDLE_REJECTED"
        raw = bytearray(base64.b64decode(body["data"]))
        raw[-5] ^= 1
        tampered = other.post(
            "/api/v1/config/import",
            json={"data": base64.b64encode(bytes(raw)).decode(), "passphrase": PASSPHRASE},
            headers=headers,
        )
        assert tampered.status_code == 400 and tampered.json()["code"] == "BUNDLE_REJECTED"
        roles = other.get("/api/v1/roles", headers=headers).json()["roles"]
        assert [r["id"] for r in roles] == ["admin", "operator", "viewer"]  # nothing changed
        assert other.get("/api/v1/settings/refresh", headers=headers).json()["interval"] == 1.0

        done = other.post(
            "/api/v1/config/import",
            json={"data": body["data"], "passphrase": PASSPHRASE},
            headers=headers,
        )
        assert done.status_code == 200 and done.json() == {"roles": 1, "settings": 1, "oidc": 0}
        watcher = other.get("/api/v1/roles", headers=headers).json()["roles"][-1]
        assert watcher["id"] == "watcher" and watcher["host_groups"] == ["web"]
        assert other.get("/api/v1/settings/refresh", headers=headers).json()["interval"] == 9
        actions = [
            e["action"] for e in other.get("/api/v1/audit", headers=headers).json()["events"]
        ]
        assert "config.import" in actions


def test_export_needs_a_long_passphrase_and_the_permission(api: Api) -> None:
    admin = api.as_("alice")
    short = api.client.post("/api/v1/config/export", json={"passphrase": "short"}, headers=admin)
    assert short.status_code == 422 and short.json()["code"] == "VALIDATION_ERROR"
    bob = api.as_("bob")
    denied = api.client.post("/api/v1/config/export", json={"passphrase": PASSPHRASE}, headers=bob)
    assert denied.status_code == 403
    garbage = api.client.post(
        "/api/v1/config/import",
        json={"data": "not a bundle!", "passphrase": PASSPHRASE},
        headers=admin,
    )
    assert garbage.status_code == 400 and garbage.json()["code"] == "INVALID_BUNDLE"


def test_security_status_summarises_the_posture(api: Api) -> None:
    admin = api.as_("alice")
    status = api.client.get("/api/v1/security/status", headers=admin).json()
    assert status["tls"] is False
    assert status["default_admin_password_in_use"] is True
    assert status["users"] == 3 and status["mfa_enabled_users"] == 0
    assert status["mfa_coverage"] == 0.0 and status["audit_signing"] is True
    assert status["registration_enabled"] is False and status["active_lockouts"] == 0
    api.client.post("/api/v1/tokens", json={"name": "forever", "scopes": ["*"]}, headers=admin)
    api.client.post(
        "/api/v1/tokens",
        json={"name": "soon", "scopes": ["*"], "expires_at": "2099-01-01T00:00:00Z"},
        headers=admin,
    )
    status = api.client.get("/api/v1/security/status", headers=admin).json()
    assert status["tokens_total"] == 2 and status["tokens_without_expiry"] == 1
    assert status["tokens_expiring_soon"] == []
    api.client.put(
        "/api/v1/auth/me/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": "a-new-admin-pass"},
        headers=admin,
    )
    status = api.client.get("/api/v1/security/status", headers=admin).json()
    assert status["default_admin_password_in_use"] is False
    assert api.client.get("/api/v1/security/status", headers=api.as_("bob")).status_code == 403


def test_cli_reset_password_recovers_a_locked_out_admin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, lockout_threshold=2)
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-pw"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetdeck",
            "user",
            "reset-password",
            "admin",
            "--password-stdin",
            "--data-dir",
            str(settings.data_dir),
        ],
        input="recovered-password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # The account is unlocked; the IP's lock is cleared on its own.
    unlock = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetdeck",
            "user",
            "unlock",
            "testclient",
            "--data-dir",
            str(settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unlock.returncode == 0 and "cleared 1 lockout record(s)" in unlock.stderr
    with TestClient(create_app(settings)) as client:
        reply = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "recovered-password"}
        )
        assert reply.status_code == 200 and reply.json()["must_change_password"] is True
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetdeck",
            "user",
            "reset-password",
            "nobody",
            "--password-stdin",
            "--data-dir",
            str(settings.data_dir),
        ],
        input="recovered-password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no user nobody" in missing.stderr
