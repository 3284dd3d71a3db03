"""The whole app runs on PostgreSQL as it does on SQLite."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fleetdeck import app as app_module
from fleetdeck.app import create_app
from tests.conftest import ADMIN_PASSWORD, admin_headers, make_settings
from tests.servers import PostgresServer

pytestmark = pytest.mark.postgres


def test_login_settings_and_restart_on_postgresql(tmp_path: Path, pg: PostgresServer) -> None:
    settings = make_settings(tmp_path, database_url=pg.create_database("app_backend"))
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/login", json=login).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            client.post(
                "/api/v1/settings/refresh", json={"interval": 9}, headers=headers
            ).status_code
            == 200
        )
        assert client.get("/api/v1/auth/me", headers=headers).json()["username"] == "admin"
        kept = client.put("/api/v1/settings/retention", json={"raw": "2d"}, headers=headers)
        assert kept.status_code == 200, kept.text
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 9}
        kept = client.get("/api/v1/settings/retention", headers=headers).json()
        assert kept["retention_seconds"]["raw"] == 172800 and kept["overridden"] == ["raw"]
    assert not (tmp_path / "data" / "fleetdeck.db").exists()


def test_servers_on_one_database_take_each_others_settings(
    tmp_path: Path, pg: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scale-out: a refresh interval or retention changed through one server applies on the
    other within its check (a minute; here a tenth of a second), not at its next restart."""
    monkeypatch.setattr(app_module, "SHARED_SETTINGS_SECONDS", 0.1)
    url = pg.create_database("app_replicas")
    first = create_app(make_settings(tmp_path / "a", database_url=url))
    second = create_app(make_settings(tmp_path / "b", database_url=url))
    with TestClient(first) as one, TestClient(second) as two:
        headers = admin_headers(one)
        refresh = one.post("/api/v1/settings/refresh", json={"interval": 7}, headers=headers)
        retention = one.put("/api/v1/settings/retention", json={"raw": "2d"}, headers=headers)
        assert refresh.status_code == retention.status_code == 200
        for _ in range(100):
            interval = two.get("/api/v1/settings/refresh", headers=headers).json()["interval"]
            kept = two.get("/api/v1/settings/retention", headers=headers).json()
            if interval == 7 and kept["retention_seconds"]["raw"] == 172800:
                break
            time.sleep(0.05)
        assert interval == 7 and kept["retention_seconds"]["raw"] == 172800
        assert second.state.tsdb.retention_ms["raw"] == 172_800_000


def test_access_layer_on_postgresql(tmp_path: Path, pg: PostgresServer) -> None:
    settings = make_settings(
        tmp_path, database_url=pg.create_database("app_access"), login_rate_limit=100
    )
    with TestClient(create_app(settings)) as client:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = client.post("/api/v1/auth/login", json=login).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.cookies.clear()
        created = client.post(
            "/api/v1/users",
            json={"username": "pgop", "password": "pg-operator-1", "roles": ["operator"]},
            headers=headers,
        )
        assert created.status_code == 201
        role = client.post(
            "/api/v1/roles",
            json={"name": "Web", "permissions": ["processes:*"], "host_groups": ["web"]},
            headers=headers,
        )
        assert role.status_code == 201 and role.json()["host_groups"] == ["web"]
        token = client.post(
            "/api/v1/tokens", json={"name": "pg", "scopes": ["metrics:read"]}, headers=headers
        ).json()["token"]
        assert client.get("/api/v1/auth/me", headers={"X-API-Token": token}).status_code == 200
        for _ in range(5):
            client.post("/api/v1/auth/login", json={"username": "pgop", "password": "wrong-pw"})
        locked = client.get("/api/v1/security/lockouts", headers=headers).json()["lockouts"]
        assert {entry["key"] for entry in locked} == {"user:pgop", "ip:testclient"}
        events = client.get("/api/v1/audit?limit=1000", headers=headers).json()["events"]
        assert all(
            client.get(f"/api/v1/audit/{e['id']}/verify", headers=headers).json()["verified"]
            for e in events
        )
