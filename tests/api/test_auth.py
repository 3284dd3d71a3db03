"""Login, sessions, the forced password change and the caller's profile."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.store import audit
from tests.conftest import ADMIN_PASSWORD, Api, make_settings


def test_login_answers_the_tyto_shape(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"token", "user", "expires_at", "must_change_password"}
    assert set(body["user"]) == {"id", "username", "email", "roles", "permissions"}
    assert body["user"]["roles"] == ["admin"] and body["user"]["permissions"] == ["*"]
    assert body["expires_at"].endswith("Z") and body["must_change_password"] is False


def test_wrong_password_and_unknown_user_get_the_same_answer(api: Api) -> None:
    wrong = api.client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    ghost = api.client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.json() == ghost.json()
    assert wrong.json()["code"] == "INVALID_CREDENTIALS"


def test_me_describes_the_caller(api: Api) -> None:
    me = api.client.get("/api/v1/auth/me", headers=api.as_("charlie")).json()
    assert me["username"] == "charlie" and me["roles"] == ["viewer"]
    assert me["auth_provider"] == "local" and me["last_login"].endswith("Z")
    assert "processes:signal" not in me["permissions"]


def test_requests_without_or_with_a_bad_token_are_401(api: Api) -> None:
    assert api.client.get("/api/v1/auth/me").json()["code"] == "AUTH_REQUIRED"
    bad = api.client.get("/api/v1/auth/me", headers={"Authorization": "Bearer fds_nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "INVALID_TOKEN"


def test_the_x_api_token_header_is_accepted(api: Api) -> None:
    token = api.as_("bob")["Authorization"].split()[1]
    assert api.client.get("/api/v1/auth/me", headers={"X-API-Token": token}).status_code == 200


def test_logout_ends_the_session(api: Api) -> None:
    headers = api.as_("bob")
    assert api.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_profile_email_can_be_changed_and_is_validated(api: Api) -> None:
    headers = api.as_("bob")
    ok = api.client.put("/api/v1/auth/me", json={"email": "bob@example.com"}, headers=headers)
    assert ok.status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=headers).json()["email"] == "bob@example.com"
    bad = api.client.put("/api/v1/auth/me", json={"email": "not-an-address"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "email"


def test_password_change_keeps_this_session_and_ends_the_others(api: Api) -> None:
    first, second = api.as_("bob"), api.as_("bob")
    reply = api.client.put(
        "/api/v1/auth/me/password",
        json={"current_password": "bob-operator-pass", "new_password": "a-new-long-password"},
        headers=first,
    )
    assert reply.status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=first).status_code == 200
    assert api.client.get("/api/v1/auth/me", headers=second).status_code == 401
    api.login("bob", "a-new-long-password")


def test_password_change_needs_the_current_password_and_a_strong_new_one(api: Api) -> None:
    headers = api.as_("bob")
    wrong = api.client.put(
        "/api/v1/auth/me/password",
        json={"current_password": "wrong", "new_password": "a-new-long-password"},
        headers=headers,
    )
    assert wrong.status_code == 401
    weak = api.client.put(
        "/api/v1/auth/me/password",
        json={"current_password": "bob-operator-pass", "new_password": "short"},
        headers=headers,
    )
    assert weak.status_code == 400 and weak.json()["code"] == "WEAK_PASSWORD"
    api.login("bob", "bob-operator-pass")  # unchanged


def test_generated_admin_password_must_be_changed_before_anything_else(
    tmp_path: Path, caplog: object
) -> None:
    app = create_app(make_settings(tmp_path, admin_password=None))
    with TestClient(app) as client:
        password = _generated_password(caplog)
        login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
        assert login.json()["must_change_password"] is True
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        blocked = client.get("/api/v1/settings/refresh", headers=headers)
        assert blocked.status_code == 403 and blocked.json()["code"] == "PASSWORD_CHANGE_REQUIRED"
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 403
        changed = client.put(
            "/api/v1/auth/me/password",
            json={"current_password": password, "new_password": "my-own-admin-password"},
            headers=headers,
        )
        assert changed.status_code == 204
        assert client.get("/api/v1/settings/refresh", headers=headers).status_code == 200


def _generated_password(caplog: object) -> str:
    import pytest

    assert isinstance(caplog, pytest.LogCaptureFixture)
    (record,) = [r for r in caplog.records if "First start" in r.getMessage()]
    return str(record.args[1])  # type: ignore[index]


def test_logins_and_failures_are_audited(api: Api) -> None:
    api.as_("bob")
    api.client.post("/api/v1/auth/login", json={"username": "bob", "password": "wrong"})
    events = api.client.portal.call(_audit_events, api)
    logins = [(e["actor"], e["success"]) for e in events if e["action"] == "auth.login"]
    assert ("bob", True) in logins and ("bob", False) in logins


async def _audit_events(api: Api) -> list[dict[str, object]]:
    async with api.app_state.db.read() as conn:
        return await audit.recent(conn)
