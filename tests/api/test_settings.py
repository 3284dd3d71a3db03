"""The refresh interval changes live, within 1-3600 s, and survives a restart."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.config import Settings
from tests.conftest import ADMIN_PASSWORD, Api


def test_refresh_interval_is_validated(api: Api) -> None:
    headers = api.as_("alice")
    for bad in (0, 0.5, 3601, "fast", None):
        reply = api.client.post("/api/v1/settings/refresh", json={"interval": bad}, headers=headers)
        assert reply.status_code == 422, bad
    assert api.client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 1.0}


def test_refresh_interval_changes_the_running_collector(api: Api) -> None:
    headers = api.as_("alice")
    reply = api.client.post("/api/v1/settings/refresh", json={"interval": 3600}, headers=headers)
    assert reply.json() == {"interval": 3600}
    assert api.app_state.monitor.interval == 3600
    ticks = api.app_state.monitor.ticks
    time.sleep(2.5)  # at the old 1 s interval two more ticks would have come by now
    assert api.app_state.monitor.ticks <= ticks + 1


def test_operator_cannot_change_settings(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/settings/refresh", json={"interval": 10}, headers=api.as_("bob")
    )
    assert reply.status_code == 403
    assert api.client.get("/api/v1/settings/refresh", headers=api.as_("bob")).status_code == 200


def test_refresh_interval_survives_restart(settings: Settings) -> None:
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/login", json=login).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.post("/api/v1/settings/refresh", json={"interval": 42}, headers=headers)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.monitor.interval == 42  # type: ignore[attr-defined]
        assert client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 42}
