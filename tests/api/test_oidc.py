"""OIDC login end to end against a real provider on loopback (tests/oidc_provider.py)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider


@pytest.fixture
def provider() -> Iterator[Provider]:
    with oidc_provider() as p:
        yield p


def _configure(api: Api, provider: Provider, **extra: object) -> dict[str, object]:
    body = {
        "enabled": True,
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "group_roles": {"ops": ["operator"], "admins": ["admin"]},
        **extra,
    }
    reply = api.client.post("/api/v1/security/oidc", json=body, headers=api.as_("alice"))
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _sign_in(client: TestClient) -> httpx2.Response | object:
    """Browser steps: our login -> provider's authorize -> our callback. Returns the callback."""
    start = client.get("/api/v1/oidc/login", follow_redirects=False)
    assert start.status_code == 302, start.text
    at_provider = httpx2.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_first_login_creates_the_user_with_mapped_roles(api: Api, provider: Provider) -> None:
    shown = _configure(api, provider)
    assert shown["has_client_secret"] is True and "client_secret" not in shown
    assert str(shown["redirect_uri"]).endswith("/api/v1/oidc/callback")
    provider.next_user = {"sub": "u-7", "preferred_username": "olga", "groups": ["ops", "x"],
                          "email": "olga@example.com"}  # fmt: skip
    api.client.cookies.clear()
    done = _sign_in(api.client)
    assert done.status_code == 303 and done.headers["location"] == "/api/v1/auth/me"  # type: ignore[attr-defined]
    me = api.client.get("/api/v1/auth/me").json()  # the session cookie was set
    assert me["username"] == "olga" and me["roles"] == ["operator"]
    assert me["auth_provider"] == "oidc" and me["email"] == "olga@example.com"
    # Group membership is re-read at every login.
    provider.next_user = {**provider.next_user, "groups": ["admins"]}
    api.client.cookies.clear()
    _sign_in(api.client)
    assert api.client.get("/api/v1/auth/me").json()["roles"] == ["admin"]
    # No password exists for an OIDC account.
    local = api.client.post("/api/v1/auth/login", json={"username": "olga", "password": "x" * 8})
    assert local.status_code == 401
    api.client.cookies.clear()
    events = api.client.get("/api/v1/audit?action=auth.login.*", headers=api.as_("alice")).json()
    assert [e["user"] for e in events["events"]] == ["olga", "olga"]


def test_unmapped_users_and_local_names_are_refused(api: Api, provider: Provider) -> None:
    _configure(api, provider)
    api.client.cookies.clear()
    provider.next_user = {"sub": "u-8", "preferred_username": "stranger", "groups": ["guests"]}
    refused = _sign_in(api.client)
    assert refused.status_code == 403 and refused.json()["code"] == "OIDC_NO_ROLE"  # type: ignore[attr-defined]
    provider.next_user = {"sub": "u-9", "preferred_username": "bob", "groups": ["admins"]}
    takeover = _sign_in(api.client)
    assert takeover.status_code == 409 and takeover.json()["code"] == "OIDC_LOCAL_ACCOUNT"  # type: ignore[attr-defined]


def test_forged_nonce_and_replayed_state_are_rejected(api: Api, provider: Provider) -> None:
    _configure(api, provider, default_roles=["viewer"])
    api.client.cookies.clear()
    provider.tamper_nonce = True
    forged = _sign_in(api.client)
    assert forged.status_code == 401 and forged.json()["code"] == "OIDC_INVALID_TOKEN"  # type: ignore[attr-defined]
    provider.tamper_nonce = False
    api.client.cookies.clear()
    start = api.client.get("/api/v1/oidc/login", follow_redirects=False)
    at_provider = httpx2.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(at_provider.headers["location"])
    api.client.cookies.clear()  # another browser presenting the code: no flow cookie
    stolen = api.client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert stolen.status_code == 401 and stolen.json()["code"] == "OIDC_FLOW_EXPIRED"


def test_configuration_is_validated_and_login_needs_it_enabled(
    api: Api, provider: Provider
) -> None:
    admin = api.as_("alice")
    assert api.client.get("/api/v1/oidc/login", follow_redirects=False).status_code == 404
    assert api.client.get("/api/v1/security/oidc", headers=admin).status_code == 404
    bad = api.client.post(
        "/api/v1/security/oidc",
        json={"enabled": True, "issuer": provider.issuer, "client_id": "x",
              "group_roles": {"ops": ["no-such-role"]}},
        headers=admin,
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["code"] == "UNKNOWN_ROLE"
    _configure(api, provider)
    # Changing settings without a secret keeps the stored one.
    kept = api.client.post(
        "/api/v1/security/oidc",
        json={"enabled": False, "issuer": provider.issuer, "client_id": CLIENT_ID},
        headers=admin,
    ).json()
    assert kept["has_client_secret"] is True and kept["enabled"] is False
    assert api.client.get("/api/v1/oidc/login", follow_redirects=False).status_code == 404


def test_return_to_must_stay_on_this_server(api: Api, provider: Provider) -> None:
    _configure(api, provider, default_roles=["viewer"])
    for target in ("//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example"):
        reply = api.client.get(
            "/api/v1/oidc/login", params={"return_to": target}, follow_redirects=False
        )
        assert reply.status_code == 400 and reply.json()["code"] == "INVALID_RETURN_TO", target
    kept = api.client.get(
        "/api/v1/oidc/login", params={"return_to": "/hosts/local?range=4h"}, follow_redirects=False
    )
    assert kept.status_code == 302
