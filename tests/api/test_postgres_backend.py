"""The whole app runs on PostgreSQL as it does on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from tests.conftest import ADMIN_PASSWORD, make_settings
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
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 9}
    assert not (tmp_path / "data" / "fleetdeck.db").exists()
