"""Shared fixtures: backends (SQLite and a real PostgreSQL), the app, and persona users.

Personas, as in the feature list: alice is the admin, bob an operator, charlie a viewer.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.auth import service
from fleetdeck.auth.permissions import SYSTEM_ROLES
from fleetdeck.config import Settings
from fleetdeck.store import migrate, roles
from fleetdeck.store.engine import Database
from tests.servers import PostgresServer, postgres_server

ADMIN_PASSWORD = "alice-admin-password"
PERSONAS = {"bob": ("operator", "bob-operator-pass"), "charlie": ("viewer", "charlie-viewer-pass")}
_db_names = itertools.count()


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fleetdeck.db'}"
    server: PostgresServer = request.getfixturevalue("pg")
    return server.create_database(f"t{next(_db_names)}")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database with the system roles, on each backend, signing audit events."""
    migrate.upgrade(db_url)
    database = Database(db_url, audit_key=b"k" * 32)
    async with database.write() as conn:
        await roles.upsert_system_roles(conn, SYSTEM_ROLES)
    yield database
    await database.close()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "admin_password": ADMIN_PASSWORD,
        "refresh_interval": 1.0,
    }
    values.update(overrides)
    # model_validate validates without reading the environment or ./fleetdeck.toml.
    return Settings.model_validate(values)


def admin_headers(client: TestClient) -> dict[str, str]:
    """Log the admin in on `client`; the bearer header (its cookies are cleared, so calls
    ride on the header alone)."""
    reply = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert reply.status_code == 200, reply.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


class Api:
    """A TestClient plus helpers to log personas in."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def app_state(self) -> Any:
        return self.client.app.state  # type: ignore[attr-defined]

    def login(self, username: str, password: str) -> dict[str, str]:
        reply = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert reply.status_code == 200, reply.text
        # Header-authenticated tests must not ride on the browser cookies login also sets.
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {reply.json()['token']}"}

    def as_(self, persona: str) -> dict[str, str]:
        if persona == "alice":
            return self.login("admin", ADMIN_PASSWORD)
        return self.login(persona, PERSONAS[persona][1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    # Migrated here, in this process, so the app finds its database current and starts no
    # child to migrate it (the end-to-end tests' servers do start one).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        for name, (role, password) in PERSONAS.items():
            client.portal.call(service.create_user, app.state.db, name, password, (role,))
        yield Api(client)
