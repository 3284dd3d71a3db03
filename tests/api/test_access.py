"""API tokens, lockout, login rate limit, TOTP, refresh and cookie sessions with CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.auth import service
from fleetdeck.config import Settings
from tests.conftest import ADMIN_PASSWORD, PERSONAS, Api, make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """These tests log in more often than the default 5 a minute per IP allows."""
    return make_settings(tmp_path, login_rate_limit=1000)


def _token(api: Api, headers: dict[str, str], **body: object) -> dict[str, object]:
    reply = api.client.post("/api/v1/tokens", json=body, headers=headers)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def test_api_token_is_shown_once_and_narrows_its_owner(api: Api) -> None:
    bob = api.as_("bob")
    created = _token(api, bob, name="reader", scopes=["metrics:read", "processes:read"])
    raw = str(created["token"])
    assert raw.startswith("fdt_") and created["prefix"] == raw[:10]
    listed = api.client.get("/api/v1/tokens", headers=bob).json()["tokens"]
    assert [t["name"] for t in listed] == ["reader"] and "token" not in listed[0]
    for header in ({"Authorization": f"Bearer {raw}"}, {"X-API-Token": raw}):
        assert api.client.get("/api/v1/settings/refresh", headers=header).status_code == 403
        ok = api.client.get("/api/v1/history?range=5m", headers=header)
        assert ok.status_code == 200
    wider = api.client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["users:write"]}, headers=bob
    )
    assert wider.status_code == 403 and wider.json()["code"] == "SCOPE_EXCEEDS_PERMISSIONS"
    # A token cannot mint a broader token either.
    via_token = api.client.post(
        "/api/v1/tokens",
        json={"name": "y", "scopes": ["settings:read"]},
        headers={"X-API-Token": raw},
    )
    assert via_token.status_code == 403
    assert api.client.delete(f"/api/v1/tokens/{created['id']}", headers=bob).status_code == 204
    assert (
        api.client.get("/api/v1/history?range=5m", headers={"X-API-Token": raw}).status_code == 401
    )


def test_expired_tokens_are_refused_and_expiry_must_be_future(api: Api) -> None:
    bob = api.as_("bob")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    bad = api.client.post(
        "/api/v1/tokens",
        json={"name": "old", "scopes": ["metrics:read"], "expires_at": past},
        headers=bob,
    )
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_EXPIRY"
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = _token(api, bob, name="brief", scopes=["metrics:read"], expires_at=soon)
    assert str(created["expires_at"]).endswith("Z")
    headers = {"X-API-Token": str(created["token"])}
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 200

    async def expire() -> None:
        from fleetdeck.clock import utcnow
        from fleetdeck.store.tables import api_tokens

        async with api.app_state.db.write() as conn:
            await conn.execute(api_tokens.update().values(expires_at=utcnow()))

    api.client.portal.call(expire)
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_tokens_of_others_are_invisible_without_tokens_admin(api: Api) -> None:
    bob, charlie, admin = api.as_("bob"), api.as_("charlie"), api.as_("alice")
    created = _token(api, bob, name="bobs", scopes=["metrics:read"])
    gone = api.client.delete(f"/api/v1/tokens/{created['id']}", headers=charlie)
    assert gone.status_code == 404
    assert api.client.get("/api/v1/tokens?all=true", headers=charlie).status_code == 403
    everyone = api.client.get("/api/v1/tokens?all=true", headers=admin).json()["tokens"]
    assert [t["owner"] for t in everyone] == ["bob"]
    assert api.client.delete(f"/api/v1/tokens/{created['id']}", headers=admin).status_code == 204


def test_tokens_cannot_act_as_sessions(api: Api) -> None:
    bob = api.as_("bob")
    headers = {"X-API-Token": str(_token(api, bob, name="t", scopes=["*"])["token"])}
    logout = api.client.post("/api/v1/auth/logout", headers=headers)
    assert logout.status_code == 400 and logout.json()["code"] == "NOT_A_SESSION"
    change = api.client.put(
        "/api/v1/auth/me/password",
        json={"current_password": PERSONAS["bob"][1], "new_password": "another-pass-1"},
        headers=headers,
    )
    assert change.status_code == 403 and change.json()["code"] == "SESSION_REQUIRED"


def test_failures_lock_the_account_and_the_ip_then_admin_resets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, lockout_threshold=3, login_rate_limit=100)
    app = create_app(settings)
    with TestClient(app) as client:
        client.portal.call(
            service.create_user, app.state.db, "bob", "bob-operator-pass", ("operator",)
        )
        wrong = {"username": "bob", "password": "wrong-password"}
        codes = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        locked = client.post(
            "/api/v1/auth/login", json={"username": "bob", "password": "bob-operator-pass"}
        )
        assert locked.status_code == 429 and locked.json()["code"] == "LOCKED_OUT"
        assert 800 < int(locked.headers["Retry-After"]) <= 900
        # The IP is locked too: another account from the same address is refused.
        other = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert other.status_code == 429

        # From the server host: clear the IP by its address, via the store.
        async def clear_ip() -> None:
            from fleetdeck.store import lockouts

            async with app.state.db.write() as conn:
                await lockouts.clear(conn, ["ip:testclient"])

        client.portal.call(clear_ip)
        admin = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {admin.json()['token']}"}
        client.cookies.clear()
        listed = client.get("/api/v1/security/lockouts", headers=headers).json()["lockouts"]
        assert [entry["key"] for entry in listed] == ["user:bob"]
        reset = client.post(
            "/api/v1/security/reset-lockout", json={"identifier": "bob"}, headers=headers
        )
        assert reset.status_code == 200 and reset.json()["cleared"] == 1
        again = client.post(
            "/api/v1/auth/login", json={"username": "bob", "password": "bob-operator-pass"}
        )
        assert again.status_code == 200
        nothing = client.post(
            "/api/v1/security/reset-lockout", json={"identifier": "nobody"}, headers=headers
        )
        assert nothing.status_code == 404


def test_failed_password_changes_count_toward_the_lockout(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, lockout_threshold=2))
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["token"]
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        body = {"current_password": "wrong-one", "new_password": "new-password-1"}
        first = client.put("/api/v1/auth/me/password", json=body, headers=headers)
        second = client.put("/api/v1/auth/me/password", json=body, headers=headers)
        assert (first.status_code, second.status_code) == (401, 401)
        right = {"current_password": ADMIN_PASSWORD, "new_password": "new-password-1"}
        locked = client.put("/api/v1/auth/me/password", json=right, headers=headers)
        assert locked.status_code == 429 and locked.json()["code"] == "LOCKED_OUT"


def test_login_is_rate_limited_per_ip_with_headers(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, login_rate_limit=3))) as client:
        body = {"username": "admin", "password": ADMIN_PASSWORD}
        replies = [client.post("/api/v1/auth/login", json=body) for _ in range(4)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in replies[:3]] == ["2", "1", "0"]
        assert replies[0].headers["X-RateLimit-Limit"] == "3"
        limited = replies[3]
        assert limited.json()["code"] == "RATE_LIMITED"
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_totp_enrolment_login_recovery_and_disable(api: Api) -> None:
    bob = api.as_("bob")
    enrolment = api.client.post("/api/v1/auth/mfa/enroll", headers=bob).json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/fleetdeck:bob?")
    totp = pyotp.TOTP(enrolment["secret"])
    wrong = api.client.post("/api/v1/auth/mfa/confirm", json={"code": "000000"}, headers=bob)
    assert wrong.status_code == 400 and wrong.json()["code"] == "INVALID_MFA_CODE"
    codes = api.client.post(
        "/api/v1/auth/mfa/confirm", json={"code": totp.now()}, headers=bob
    ).json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    password = PERSONAS["bob"][1]

    def attempt(pw: str, code: str | None) -> tuple[int, object]:
        reply = api.client.post(
            "/api/v1/auth/login", json={"username": "bob", "password": pw, "mfa_code": code}
        )
        return reply.status_code, reply.json().get("error")

    # Without a code, with a wrong code, or with a wrong password: the same answer.
    no_code, bad_code, bad_pw = (
        attempt(password, None),
        attempt(password, "123456"),
        attempt("wrong-pass", totp.now()),
    )
    assert no_code == bad_code == bad_pw and no_code[0] == 401
    assert attempt(password, totp.now())[0] == 200
    assert attempt(password, codes[0])[0] == 200
    assert attempt(password, codes[0])[0] == 401  # each recovery code works once
    me = api.client.get("/api/v1/auth/me", headers=bob).json()
    assert me["mfa_enabled"] is True
    assert api.client.post("/api/v1/auth/mfa/enroll", headers=bob).status_code == 409
    off = api.client.post("/api/v1/auth/mfa/disable", json={"password": "nope"}, headers=bob)
    assert off.status_code == 401
    assert (
        api.client.post(
            "/api/v1/auth/mfa/disable", json={"password": password}, headers=bob
        ).status_code
        == 204
    )
    assert attempt(password, None)[0] == 200


def test_totp_secret_is_stored_encrypted(api: Api) -> None:
    bob = api.as_("bob")
    secret = api.client.post("/api/v1/auth/mfa/enroll", headers=bob).json()["secret"]

    async def stored() -> str:
        from fleetdeck.store import users

        async with api.app_state.db.read() as conn:
            row = await users.get_by_username(conn, "bob")
        assert row is not None and row.totp_secret is not None
        return row.totp_secret

    sealed = api.client.portal.call(stored)
    assert secret not in sealed and sealed.startswith("v1:")


def test_refresh_renews_the_session_and_ends_the_old_token(api: Api) -> None:
    old = api.as_("bob")
    reply = api.client.post("/api/v1/auth/refresh", headers=old)
    assert reply.status_code == 200
    new = {"Authorization": f"Bearer {reply.json()['token']}"}
    api.client.cookies.clear()
    assert api.client.get("/api/v1/auth/me", headers=old).status_code == 401
    assert api.client.get("/api/v1/auth/me", headers=new).status_code == 200


def test_cookie_sessions_need_the_csrf_header_for_unsafe_methods(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    session = reply.cookies.get("fleetdeck_session")
    csrf = reply.cookies.get("fleetdeck_csrf")
    assert session == reply.json()["token"] and csrf
    assert "httponly" in reply.headers.get_list("set-cookie")[0].lower()
    assert api.client.get("/api/v1/auth/me").status_code == 200  # the cookie alone reads
    forged = api.client.post("/api/v1/settings/refresh", json={"interval": 7})
    assert forged.status_code == 403 and forged.json()["code"] == "CSRF_FAILED"
    wrong = api.client.post(
        "/api/v1/settings/refresh", json={"interval": 7}, headers={"X-CSRF-Token": "guess"}
    )
    assert wrong.status_code == 403
    ok = api.client.post(
        "/api/v1/settings/refresh", json={"interval": 7}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200
    assert api.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert api.client.get("/api/v1/auth/me").status_code == 401


def test_api_calls_are_rate_limited_per_user(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_rate_limit=3, login_rate_limit=100)
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["token"]
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        replies = [client.get("/api/v1/auth/me", headers=headers) for _ in range(4)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in replies[:3]] == ["2", "1", "0"]
        assert replies[3].json()["code"] == "RATE_LIMITED" and "Retry-After" in replies[3].headers
        assert client.get("/health").status_code == 200  # unauthenticated routes are not counted
