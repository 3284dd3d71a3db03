"""Every route of the OpenAPI document, called by every kind of caller.

The table below says what each route needs. A route missing from it fails the suite, so a new
route cannot ship without deciding who may call it; a route whose check is missing or wrong
fails for the caller that gets the wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.auth import service
from fleetdeck.auth.permissions import grants
from tests.conftest import ADMIN_PASSWORD, PERSONAS, make_settings

PUBLIC = "public"  # no credentials needed
SESSION = "session"  # any signed-in caller

REQUIRED: dict[str, str] = {
    "GET /health": PUBLIC,
    "GET /install.sh": PUBLIC,
    "GET /download/fleetdeck-agent": PUBLIC,
    "GET /ca.pem": PUBLIC,
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/register": PUBLIC,
    "POST /api/v1/auth/refresh": SESSION,
    "POST /api/v1/auth/logout": SESSION,
    "GET /api/v1/auth/me": SESSION,
    "PUT /api/v1/auth/me": SESSION,
    "PUT /api/v1/auth/me/password": SESSION,
    "POST /api/v1/auth/mfa/enroll": SESSION,
    "POST /api/v1/auth/mfa/confirm": SESSION,
    "POST /api/v1/auth/mfa/disable": SESSION,
    "GET /api/v1/users": "users:read",
    "POST /api/v1/users": "users:write",
    "GET /api/v1/users/{user_id}": "users:read",
    "PUT /api/v1/users/{user_id}": "users:write",
    "DELETE /api/v1/users/{user_id}": "users:write",
    "PUT /api/v1/users/{user_id}/password": "users:write",
    "POST /api/v1/users/{user_id}/roles": "users:write",
    "DELETE /api/v1/users/{user_id}/roles/{role_id}": "users:write",
    "GET /api/v1/user/panel-config": SESSION,
    "PUT /api/v1/user/panel-config": SESSION,
    "GET /api/v1/roles": "roles:read",
    "POST /api/v1/roles": "roles:write",
    "PUT /api/v1/roles/{role_id}": "roles:write",
    "DELETE /api/v1/roles/{role_id}": "roles:write",
    "GET /api/v1/permissions": SESSION,
    "GET /api/v1/tokens": SESSION,
    "POST /api/v1/tokens": SESSION,
    "DELETE /api/v1/tokens/{token_id}": SESSION,
    "GET /api/v1/security/status": "security:read",
    "GET /api/v1/security/lockouts": "security:read",
    "POST /api/v1/security/reset-lockout": "security:write",
    "GET /api/v1/security/oidc": "security:read",
    "POST /api/v1/security/oidc": "security:write",
    "GET /api/v1/oidc/login": PUBLIC,
    "GET /api/v1/oidc/callback": PUBLIC,
    "GET /api/v1/audit": "audit:read",
    "GET /api/v1/audit/{event_id}/verify": "audit:read",
    "POST /api/v1/config/export": "config:export",
    "POST /api/v1/config/import": "config:import",
    "GET /api/v1/alerts": "alerts:read",
    "POST /api/v1/alerts/config": "alerts:write",
    "POST /api/v1/alerts/{alert_id}/acknowledge": "alerts:acknowledge",
    "POST /api/v1/alerts/{alert_id}/snooze": "alerts:acknowledge",
    "GET /api/v1/alerts/history": "alerts:read",
    "GET /api/v1/alerts/rules": "alerts:read",
    "POST /api/v1/alerts/rules": "alerts:write",
    "PUT /api/v1/alerts/rules/{rule_id}": "alerts:write",
    "DELETE /api/v1/alerts/rules/{rule_id}": "alerts:write",
    "GET /api/v1/notifications/webhooks": "notifications:read",
    "POST /api/v1/notifications/webhooks": "notifications:write",
    "PUT /api/v1/notifications/webhooks/{channel_id}": "notifications:write",
    "DELETE /api/v1/notifications/webhooks/{channel_id}": "notifications:write",
    "POST /api/v1/notifications/webhooks/test": "notifications:write",
    "POST /api/v1/notifications/test": "notifications:write",
    "GET /api/v1/notifications/queue/stats": "notifications:read",
    "GET /api/v1/notifications/policy": "notifications:read",
    "PUT /api/v1/notifications/policy": "notifications:write",
    "GET /api/v1/notifications/email": "notifications:read",
    "PUT /api/v1/notifications/email": "notifications:write",
    "GET /api/v1/notifications/apprise": "notifications:read",
    "PUT /api/v1/notifications/apprise": "notifications:write",
    "GET /api/v1/notifications/webhook-templates": "notifications:read",
    "GET /api/v1/notifications/dlq": "notifications:read",
    "GET /api/v1/notifications/webhook-history": "notifications:read",
    "POST /api/v1/notifications/dlq/retry": "notifications:write",
    "POST /api/v1/notifications/dlq/delete": "notifications:write",
    "GET /api/v1/notifications/health": "notifications:read",
    "GET /api/v1/agents": "agents:read",
    "POST /api/v1/agents": "agents:write",
    "GET /api/v1/agents/pending": "agents:read",
    "POST /api/v1/agents/pending/{agent_id}/approve": "agents:write",
    "POST /api/v1/agents/pending/{agent_id}/reject": "agents:write",
    "POST /api/v1/agents/enrollment-tokens": "agents:enroll",
    "GET /api/v1/agents/enrollment-tokens": "agents:enroll",
    "DELETE /api/v1/agents/enrollment-tokens/{token_id}": "agents:enroll",
    "POST /api/v1/agents/enroll": PUBLIC,
    "GET /api/v1/agents/{agent_id}": "agents:read",
    "DELETE /api/v1/agents/{agent_id}": "agents:write",
    "POST /api/v1/agents/{agent_id}/revoke": "agents:write",
    "POST /api/v1/agents/{agent_id}/rotate": "agents:write",
    "POST /api/v1/agents/{agent_id}/heartbeat": "agents:read",
    "GET /api/v1/agents/{agent_id}/config": "agents:read",
    "PATCH /api/v1/agents/{agent_id}/config": "agents:write",
    "GET /api/v1/registration-rules": "agents:read",
    "GET /api/v1/fleet/stats": "agents:read",
    "POST /api/v1/registration-rules": "agents:write",
    "GET /api/v1/registration-rules/{rule_id}": "agents:read",
    "PUT /api/v1/registration-rules/{rule_id}": "agents:write",
    "DELETE /api/v1/registration-rules/{rule_id}": "agents:write",
    "GET /api/v1/groups": "groups:read",
    "POST /api/v1/groups": "groups:write",
    "GET /api/v1/groups/{group_id}": "groups:read",
    "PUT /api/v1/groups/{group_id}": "groups:write",
    "DELETE /api/v1/groups/{group_id}": "groups:write",
    "POST /api/v1/groups/{group_id}/members": "groups:write",
    "DELETE /api/v1/groups/{group_id}/members/{agent_id}": "groups:write",
    "GET /api/v1/stream": "metrics:read",
    "GET /api/v1/stream/fleet": "metrics:read",
    "GET /api/v1/history": "metrics:read",
    "GET /api/v1/export/metrics": "metrics:read",
    "GET /api/v1/metrics-store/stats": "metrics:read",
    "GET /metrics": "metrics:read",
    "GET /api/v1/processes/{pid}": "processes:read",
    "POST /api/v1/processes/{pid}/signal": "processes:signal",
    "GET /api/v1/settings/refresh": "settings:read",
    "GET /api/v1/settings/backups": "settings:read",
    "GET /api/v1/settings/retention": "settings:read",
    "PUT /api/v1/settings/retention": "settings:write",
    "DELETE /api/v1/settings/retention": "settings:write",
    "POST /api/v1/settings/refresh": "settings:write",
}

# Values that keep each call harmless: unknown ids answer 404, the stream is asked for an
# agent that does not exist (a real stream would never end), no process is signalled.
PATH_VALUES = {
    "user_id": "no-such-user",
    "role_id": "no-such-role",
    "token_id": "no-such-token",
    "event_id": "999999",
    "pid": str(2**22 + 7),
    "alert_id": "no-such-alert",
    "rule_id": "no-such-rule",
    "channel_id": "no-such-channel",
    "group_id": "no-such-group",
    "agent_id": "no-such-agent",
}
QUERIES = {
    "GET /api/v1/stream": {"agent_id": "no-such-agent"},
    "GET /api/v1/stream/fleet": {"group": "no-such-group"},
}
SCOPES = ("metrics:read", "processes:read")


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    permissions: tuple[str, ...] | None  # None: no valid credentials


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("matrix"), login_rate_limit=10_000)
    app = create_app(settings)
    with TestClient(app) as c:
        for name, (role, password) in PERSONAS.items():
            c.portal.call(service.create_user, app.state.db, name, password, (role,))
        yield c


def _login(client: TestClient, username: str, password: str) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def _callers(client: TestClient) -> list[Caller]:
    bob = _login(client, "bob", PERSONAS["bob"][1])
    scoped = client.post(
        "/api/v1/tokens", json={"name": "matrix", "scopes": list(SCOPES)}, headers=bob
    ).json()["token"]
    expiring = client.post(
        "/api/v1/tokens",
        json={"name": "soon", "scopes": ["*"], "expires_at": "2099-01-01T00:00:00Z"},
        headers=bob,
    ).json()

    async def expire() -> None:
        from fleetdeck.clock import utcnow
        from fleetdeck.store.tables import api_tokens

        async with client.app.state.db.write() as conn:  # type: ignore[attr-defined]
            await conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == expiring["id"])
                .values(expires_at=utcnow())
            )

    client.portal.call(expire)
    return [
        Caller("admin", _login(client, "admin", ADMIN_PASSWORD), ("*",)),
        Caller("operator", bob, None),
        Caller("viewer", _login(client, "charlie", PERSONAS["charlie"][1]), None),
        Caller("scoped token", {"X-API-Token": scoped}, None),
        Caller("expired token", {"X-API-Token": expiring["token"]}, None),
        Caller("no token", {}, None),
    ]


def _holds(caller: str, permission: str) -> bool:
    roles = {"admin": ("*",)}
    from fleetdeck.auth.permissions import SYSTEM_ROLES

    for role_id, _name, _description, perms in SYSTEM_ROLES:
        roles[role_id] = perms
    if caller == "admin":
        return grants(roles["admin"], permission)
    if caller == "operator":
        return grants(roles["operator"], permission)
    if caller == "viewer":
        return grants(roles["viewer"], permission)
    if caller == "scoped token":
        return grants(roles["operator"], permission) and grants(SCOPES, permission)
    return False


def _expected(caller: str, need: str) -> str:
    if need == PUBLIC:
        return "any"
    if caller in ("expired token", "no token"):
        return "401"
    if need == SESSION:
        return "allowed"
    return "allowed" if _holds(caller, need) else "403"


def test_every_route_answers_each_caller_as_its_permission_says(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    routes = [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops]
    unknown = [f"{m} {p}" for m, p in routes if f"{m} {p}" not in REQUIRED]
    assert not unknown, f"routes without an entry in REQUIRED: {unknown}"
    stale = set(REQUIRED) - {f"{m} {p}" for m, p in routes}
    assert not stale, f"REQUIRED names routes that no longer exist: {stale}"

    wrong: list[str] = []
    for method, path in routes:
        key = f"{method} {path}"
        url = path.format(**PATH_VALUES)
        # Fresh sessions for each route: logout and refresh end the one they are called with.
        callers = _callers(client)
        for caller in callers:
            reply = client.request(
                method, url, headers=caller.headers, params=QUERIES.get(key), json={}
            )
            client.cookies.clear()
            status = reply.status_code
            expected = _expected(caller.name, REQUIRED[key])
            ok = (
                expected == "any"
                or (expected == "allowed" and status not in (401, 403))
                or str(status) == expected
            )
            # A token may be refused a session-only action (logout, password change...), but
            # never as "who are you?".
            if not ok and caller.name == "scoped token" and expected == "allowed":
                ok = status != 401 and reply.json().get("code") in (
                    "SESSION_REQUIRED",
                    "NOT_A_SESSION",
                )
            if not ok:
                wrong.append(f"{key} as {caller.name}: {status} (expected {expected})")
            if status >= 400:
                body = reply.json()
                assert set(body) == {"error", "code", "details"}, f"{key}: {body}"
    assert not wrong, "\n".join(wrong)


def test_must_change_password_sessions_reach_only_the_password_routes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_password=None, login_rate_limit=10_000)
    app = create_app(settings)
    with TestClient(app) as client:
        client.portal.call(service.create_user, app.state.db, "temp", "temporary-pass", ("admin",))

        async def force() -> None:
            from fleetdeck.store.tables import users

            async with app.state.db.write() as conn:
                await conn.execute(
                    users.update()
                    .where(users.c.username == "temp")
                    .values(must_change_password=True)
                )

        client.portal.call(force)
        reachable = []
        for key in REQUIRED:
            method, path = key.split(" ", 1)
            if REQUIRED[key] == PUBLIC:
                continue
            headers = _login(client, "temp", "temporary-pass")
            reply = client.request(
                method,
                path.format(**PATH_VALUES),
                headers=headers,
                params=QUERIES.get(key),
                json={},
            )
            client.cookies.clear()
            if reply.status_code != 403:
                reachable.append(key)
        assert sorted(reachable) == [
            "POST /api/v1/auth/logout",
            "POST /api/v1/auth/refresh",
            "PUT /api/v1/auth/me/password",
        ]
