"""Users and roles administration: Tyto shapes, guards, role assignment, panel config."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN_PASSWORD, Api


def _users(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    reply = api.client.get("/api/v1/users", headers=headers)
    assert reply.status_code == 200, reply.text
    return {u["username"]: u for u in reply.json()["users"]}


def test_users_list_has_the_tyto_fields_and_pagination_headers(api: Api) -> None:
    admin = api.as_("alice")
    reply = api.client.get("/api/v1/users?limit=2", headers=admin)
    assert reply.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in reply.headers["Link"] and "offset=2" in reply.headers["Link"]
    user = reply.json()["users"][0]
    assert {"id", "username", "email", "roles", "auth_provider", "disabled", "created_at"} <= set(
        user
    )
    assert user["created_at"].endswith("Z")


def test_admin_creates_updates_and_disables_a_user(api: Api) -> None:
    admin = api.as_("alice")
    created = api.client.post(
        "/api/v1/users",
        json={
            "username": "dave",
            "password": "dave-password-1",
            "email": "d@example.com",
            "roles": ["operator"],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    dave_id = created.json()["id"]
    dave = api.login("dave", "dave-password-1")
    updated = api.client.put(
        f"/api/v1/users/{dave_id}", json={"roles": ["viewer"]}, headers=admin
    ).json()
    assert updated["roles"] == ["viewer"] and updated["email"] == "d@example.com"
    # The live session sees the narrower role at once.
    me = api.client.get("/api/v1/auth/me", headers=dave).json()
    assert "processes:signal" not in me["permissions"]

    assert api.client.delete(f"/api/v1/users/{dave_id}", headers=admin).status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=dave).status_code == 401
    again = api.client.post(
        "/api/v1/auth/login", json={"username": "dave", "password": "dave-password-1"}
    )
    assert again.status_code == 401 and again.json()["code"] == "INVALID_CREDENTIALS"
    assert _users(api, admin)["dave"]["disabled"] is True
    enabled = api.client.put(f"/api/v1/users/{dave_id}", json={"disabled": False}, headers=admin)
    assert enabled.json()["disabled"] is False
    api.login("dave", "dave-password-1")


def test_bad_user_input_gets_clear_errors(api: Api) -> None:
    admin = api.as_("alice")
    weak = api.client.post(
        "/api/v1/users", json={"username": "eve", "password": "short"}, headers=admin
    )
    assert weak.status_code == 400 and weak.json()["code"] == "WEAK_PASSWORD"
    role = api.client.post(
        "/api/v1/users",
        json={"username": "eve", "password": "long-enough-1", "roles": ["nope"]},
        headers=admin,
    )
    assert role.status_code == 400 and role.json()["code"] == "UNKNOWN_ROLE"
    dup = api.client.post(
        "/api/v1/users", json={"username": "bob", "password": "long-enough-1"}, headers=admin
    )
    assert dup.status_code == 409 and dup.json()["code"] == "USER_EXISTS"
    missing = api.client.get("/api/v1/users/no-such-id", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "USER_NOT_FOUND"


def test_the_last_admin_cannot_be_disabled_or_demoted_nor_anyone_themselves(api: Api) -> None:
    admin = api.as_("alice")
    users = _users(api, admin)
    admin_id, bob_id = users["admin"]["id"], users["bob"]["id"]
    own = api.client.delete(f"/api/v1/users/{admin_id}", headers=admin)
    assert own.status_code == 409 and own.json()["code"] == "SELF_CHANGE_FORBIDDEN"
    demote = api.client.put(f"/api/v1/users/{admin_id}", json={"roles": ["viewer"]}, headers=admin)
    assert demote.status_code == 409
    # Bob becomes an admin; then bob may demote the original admin, but not the last one.
    assert api.client.post(
        f"/api/v1/users/{bob_id}/roles", json={"role_id": "admin"}, headers=admin
    ).json()["roles"] == ["admin", "operator"]
    bob = api.as_("bob")
    removed = api.client.delete(f"/api/v1/users/{admin_id}/roles/admin", headers=bob)
    assert removed.status_code == 200 and "admin" not in removed.json()["roles"]
    own_role = api.client.delete(f"/api/v1/users/{bob_id}/roles/admin", headers=bob)
    assert own_role.status_code == 409 and own_role.json()["code"] == "SELF_CHANGE_FORBIDDEN"
    # A user manager who is not an admin still cannot remove the last admin.
    api.client.post(
        "/api/v1/roles", json={"name": "User manager", "permissions": ["users:*"]}, headers=bob
    )
    charlie_id = _users(api, bob)["charlie"]["id"]
    api.client.post(
        f"/api/v1/users/{charlie_id}/roles", json={"role_id": "user-manager"}, headers=bob
    )
    charlie = api.as_("charlie")
    for attempt in (
        api.client.delete(f"/api/v1/users/{bob_id}/roles/admin", headers=charlie),
        api.client.delete(f"/api/v1/users/{bob_id}", headers=charlie),
        api.client.put(f"/api/v1/users/{bob_id}", json={"roles": []}, headers=charlie),
    ):
        assert attempt.status_code == 409 and attempt.json()["code"] == "LAST_ADMIN"
    assert api.client.get("/api/v1/auth/me", headers=admin).json()["permissions"] == []


def test_admin_password_reset_forces_a_change_and_ends_sessions(api: Api) -> None:
    admin = api.as_("alice")
    bob_id = _users(api, admin)["bob"]["id"]
    bob = api.as_("bob")
    reply = api.client.put(
        f"/api/v1/users/{bob_id}/password", json={"new_password": "temporary-pass"}, headers=admin
    )
    assert reply.status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=bob).status_code == 401
    fresh = api.login("bob", "temporary-pass")
    blocked = api.client.get("/api/v1/roles", headers=fresh)
    assert blocked.status_code == 403 and blocked.json()["code"] == "PASSWORD_CHANGE_REQUIRED"


def test_operators_and_viewers_cannot_manage_users(api: Api) -> None:
    bob, charlie = api.as_("bob"), api.as_("charlie")
    assert api.client.get("/api/v1/users", headers=bob).status_code == 200
    denied = api.client.post(
        "/api/v1/users", json={"username": "x1", "password": "long-enough-1"}, headers=bob
    )
    assert denied.status_code == 403 and denied.json()["details"]["permission"] == "users:write"
    assert api.client.get("/api/v1/users", headers=charlie).status_code == 403


def test_custom_roles_with_wildcards_and_system_roles_protected(api: Api) -> None:
    admin = api.as_("alice")
    roles = api.client.get("/api/v1/roles", headers=admin).json()["roles"]
    assert roles[0] == {
        "id": "admin",
        "name": "Administrator",
        "description": "Full system access",
        "permissions": ["*"],
        "is_system": True,
        "host_groups": [],
    }
    created = api.client.post(
        "/api/v1/roles",
        json={"name": "Process Manager", "permissions": ["processes:*", "metrics:read"]},
        headers=admin,
    )
    assert created.status_code == 201 and created.json()["id"] == "process-manager"
    bad = api.client.post(
        "/api/v1/roles", json={"name": "Typo", "permissions": ["proceses:read"]}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["details"]["permissions"] == ["proceses:read"]
    charlie_id = _users(api, admin)["charlie"]["id"]
    api.client.post(
        f"/api/v1/users/{charlie_id}/roles", json={"role_id": "process-manager"}, headers=admin
    )
    charlie = api.as_("charlie")
    me = api.client.get("/api/v1/auth/me", headers=charlie).json()
    assert "processes:*" in me["permissions"]
    changed = api.client.put(
        "/api/v1/roles/process-manager", json={"permissions": ["metrics:read"]}, headers=admin
    )
    assert changed.json()["permissions"] == ["metrics:read"]
    assert (
        "processes:*"
        not in api.client.get("/api/v1/auth/me", headers=charlie).json()["permissions"]
    )
    system = api.client.delete("/api/v1/roles/admin", headers=admin)
    assert system.status_code == 403 and system.json()["code"] == "SYSTEM_ROLE"
    assert (
        api.client.put(
            "/api/v1/roles/viewer", json={"permissions": ["*"]}, headers=admin
        ).status_code
        == 403
    )
    assert api.client.delete("/api/v1/roles/process-manager", headers=admin).status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=charlie).json()["roles"] == ["viewer"]


def test_a_role_bound_to_host_groups_grants_only_on_those_hosts(api: Api) -> None:
    from fleetdeck.auth.service import authenticate

    admin = api.as_("alice")
    api.client.post(
        "/api/v1/roles",
        json={"name": "Web operator", "permissions": ["processes:signal"], "host_groups": ["web"]},
        headers=admin,
    )
    charlie_id = _users(api, admin)["charlie"]["id"]
    api.client.post(
        f"/api/v1/users/{charlie_id}/roles", json={"role_id": "web-operator"}, headers=admin
    )
    token = api.as_("charlie")["Authorization"].split()[1]
    principal = api.client.portal.call(authenticate, api.app_state.db, token)
    assert principal is not None
    assert principal.can_on("processes:signal", ["web", "eu"])
    assert not principal.can_on("processes:signal", ["db"])
    assert not principal.can("processes:signal")  # not fleet-wide, not on the server's host
    assert principal.can_on("metrics:read", ["db"])  # the viewer role is unbound
    bad = api.client.post(
        "/api/v1/roles",
        json={"name": "Bad", "permissions": ["metrics:read"], "host_groups": ["no spaces"]},
        headers=admin,
    )
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_HOST_GROUP"


def test_registration_only_when_enabled(api: Api, tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from fleetdeck.app import create_app
    from tests.conftest import make_settings

    body = {"username": "newbie", "password": "newbie-password", "email": "n@example.com"}
    off = api.client.post("/api/v1/auth/register", json=body)
    assert off.status_code == 403 and off.json()["code"] == "REGISTRATION_DISABLED"
    with TestClient(create_app(make_settings(tmp_path / "reg", allow_registration=True))) as c:
        on = c.post("/api/v1/auth/register", json=body)
        assert on.status_code == 201 and on.json()["roles"] == ["viewer"]
        login = c.post(
            "/api/v1/auth/login", json={"username": "newbie", "password": "newbie-password"}
        )
        assert login.status_code == 200
        dup = c.post("/api/v1/auth/register", json=body)
        assert dup.status_code == 409


def test_panel_config_is_per_user(api: Api) -> None:
    bob, charlie = api.as_("bob"), api.as_("charlie")
    assert api.client.get("/api/v1/user/panel-config", headers=bob).json() == {"panels": []}
    panels = [{"id": "memory", "visible": True}, {"id": "cpu", "visible": False}]
    saved = api.client.put("/api/v1/user/panel-config", json={"panels": panels}, headers=bob)
    assert saved.status_code == 200
    assert api.client.get("/api/v1/user/panel-config", headers=bob).json()["panels"] == panels
    assert api.client.get("/api/v1/user/panel-config", headers=charlie).json()["panels"] == []
    bad = api.client.put("/api/v1/user/panel-config", json={"panels": "cpu"}, headers=bob)
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"


def test_admin_changes_are_audited(api: Api) -> None:
    admin = api.as_("alice")
    api.client.post(
        "/api/v1/roles", json={"name": "Auditor", "permissions": ["audit:read"]}, headers=admin
    )
    events = api.client.get("/api/v1/audit?resource=role:", headers=admin).json()["events"]
    assert [(e["action"], e["user"], e["resource"]) for e in events] == [
        ("role.create", "admin", "role:auditor")
    ]
    assert ADMIN_PASSWORD not in str(events)


def test_a_group_bound_role_acts_on_the_hosts_of_its_group(api: Api) -> None:
    import os

    admin = api.as_("alice")
    api.client.post(
        "/api/v1/roles",
        json={"name": "Web ops", "permissions": ["processes:read"], "host_groups": ["web"]},
        headers=admin,
    )
    user = api.client.post(
        "/api/v1/users",
        json={"username": "wendy", "password": "wendy-password", "roles": ["web-ops"]},
        headers=admin,
    ).json()
    assert user["roles"] == ["web-ops"]
    wendy = api.login("wendy", "wendy-password")
    mine = f"/api/v1/processes/{os.getpid()}"
    assert api.client.get(mine, headers=wendy).status_code == 403  # local is in no group
    created = api.client.post("/api/v1/groups", json={"id": "web"}, headers=admin)
    assert created.status_code == 201 and created.json()["members"] == []
    joined = api.client.post(
        "/api/v1/groups/web/members", json={"agent_id": "local"}, headers=admin
    )
    assert joined.json()["members"] == ["local"]
    assert api.client.get(mine, headers=wendy).status_code == 200
    # Fleet-wide actions stay out of reach of a group-bound role.
    assert api.client.get("/api/v1/users", headers=wendy).status_code == 403
    ghost = api.client.post("/api/v1/groups/web/members", json={"agent_id": "ghost"}, headers=admin)
    assert ghost.status_code == 404 and ghost.json()["code"] == "AGENT_NOT_FOUND"
    assert api.client.delete("/api/v1/groups/web/members/local", headers=admin).status_code == 200
    assert api.client.get(mine, headers=wendy).status_code == 403
    dup = api.client.post("/api/v1/groups", json={"id": "web"}, headers=admin)
    assert dup.status_code == 409
