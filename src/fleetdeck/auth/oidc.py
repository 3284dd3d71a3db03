"""OpenID Connect login: authorization code flow with PKCE, ID token checked against the
provider's published keys, groups mapped to fleetdeck roles.

The flow's state, nonce and PKCE verifier travel in an encrypted, short-lived cookie, so any
replica can finish a login another one started. Accounts created here have no password and can
only sign in through the provider; a local account with the same name is never taken over.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from fleetdeck.auth.keys import SecretBox
from fleetdeck.auth.service import USERNAME_PATTERN
from fleetdeck.errors import Conflict, Forbidden, Invalid, Unauthorized
from fleetdeck.store import audit, roles, settings_kv, users
from fleetdeck.store.engine import Database
from fleetdeck.store.users import UserRow

SETTINGS_KEY = "security.oidc"
FLOW_SECONDS = 600
PROVIDER = "oidc"
_HTTP_TIMEOUT = 10.0
_DISCOVERY_TTL = 600.0
_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]


@dataclass(frozen=True, slots=True)
class OidcConfig:
    enabled: bool
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    group_roles: dict[str, list[str]] = field(default_factory=dict)
    default_roles: tuple[str, ...] = ()

    def stored(self, box: SecretBox) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": box.seal(self.client_secret) if self.client_secret else None,
            "scopes": list(self.scopes),
            "username_claim": self.username_claim,
            "groups_claim": self.groups_claim,
            "group_roles": self.group_roles,
            "default_roles": list(self.default_roles),
        }

    @classmethod
    def from_stored(cls, value: dict[str, Any], box: SecretBox) -> OidcConfig:
        sealed = value.get("client_secret")
        return cls(
            enabled=bool(value.get("enabled")),
            issuer=str(value["issuer"]),
            client_id=str(value["client_id"]),
            client_secret=box.open(sealed) if sealed else None,
            scopes=tuple(value.get("scopes") or ("openid",)),
            username_claim=str(value.get("username_claim") or "preferred_username"),
            groups_claim=str(value.get("groups_claim") or "groups"),
            group_roles={str(k): list(v) for k, v in (value.get("group_roles") or {}).items()},
            default_roles=tuple(value.get("default_roles") or ()),
        )


async def load(db: Database, box: SecretBox) -> OidcConfig | None:
    async with db.read() as conn:
        value = await settings_kv.get(conn, SETTINGS_KEY)
    return OidcConfig.from_stored(value, box) if isinstance(value, dict) else None


async def save(
    db: Database, box: SecretBox, config: OidcConfig, *, actor: str, ip: str | None
) -> None:
    if not config.issuer.startswith(("https://", "http://")):
        raise Invalid("issuer must be an http(s) URL", code="INVALID_ISSUER")
    if "openid" not in config.scopes:
        raise Invalid("scopes must include openid", code="INVALID_SCOPES")
    async with db.write() as conn:
        known = set(await roles.list_ids(conn))
        named = {r for rs in config.group_roles.values() for r in rs} | set(config.default_roles)
        unknown = sorted(named - known)
        if unknown:
            raise Invalid(
                f"unknown roles: {', '.join(unknown)}",
                code="UNKNOWN_ROLE",
                details={"roles": unknown},
            )
        await settings_kv.put(conn, SETTINGS_KEY, config.stored(box))
        await audit.record(
            conn,
            action="security.oidc_update",
            success=True,
            actor=actor,
            ip=ip,
            resource="settings:oidc",
            details={"enabled": config.enabled, "issuer": config.issuer},
        )


_discovered: dict[str, tuple[float, dict[str, Any]]] = {}


async def discover(issuer: str) -> dict[str, Any]:
    """The provider's metadata (OpenID Connect Discovery 1.0), cached for ten minutes."""
    cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < _DISCOVERY_TTL:
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with httpx2.AsyncClient(timeout=_HTTP_TIMEOUT) as client:
            reply = await client.get(url)
            reply.raise_for_status()
            meta = reply.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise Invalid(
            f"the identity provider's discovery document is unavailable: {exc}",
            code="OIDC_PROVIDER_UNAVAILABLE",
        ) from exc
    if meta.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise Invalid("the provider's metadata names another issuer", code="OIDC_ISSUER_MISMATCH")
    _discovered[issuer] = (time.monotonic(), meta)
    return dict(meta)


@dataclass(frozen=True, slots=True)
class Start:
    authorize_url: str
    flow: str  # the sealed cookie value


async def start(config: OidcConfig, box: SecretBox, redirect_uri: str, return_to: str) -> Start:
    # Imported here: authlib costs every server ~7 MB resident, and most never use single sign-on.
    from authlib.common.urls import add_params_to_uri
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    meta = await discover(config.issuer)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    url = add_params_to_uri(
        meta["authorization_endpoint"],
        [
            ("response_type", "code"),
            ("client_id", config.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", " ".join(config.scopes)),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", create_s256_code_challenge(verifier)),  # type: ignore[no-untyped-call]
            ("code_challenge_method", "S256"),
        ],
    )
    flow = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "return_to": return_to,
        "expires": int(time.time()) + FLOW_SECONDS,
    }
    return Start(url, box.seal(json.dumps(flow)))


def _open_flow(box: SecretBox, sealed: str | None, state: str) -> dict[str, Any]:
    try:
        flow = json.loads(box.open(sealed)) if sealed else None
    except Exception:  # tampered or from another server: the same answer as a missing one
        flow = None
    if not isinstance(flow, dict) or flow.get("expires", 0) < time.time():
        raise Unauthorized(
            "the sign-in took too long or was started elsewhere; start again",
            code="OIDC_FLOW_EXPIRED",
        )
    if not secrets.compare_digest(str(flow.get("state")), state):
        raise Unauthorized("state mismatch; start again", code="OIDC_STATE_MISMATCH")
    return flow


async def finish(
    config: OidcConfig,
    box: SecretBox,
    sealed_flow: str | None,
    *,
    code: str,
    state: str,
    redirect_uri: str,
) -> tuple[dict[str, Any], str]:
    """Exchange the code, check the ID token; returns its claims and where to send the user."""
    # Imported here, as authlib in `start`: joserfc costs every server ~3 MB resident.
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    flow = _open_flow(box, sealed_flow, state)
    meta = await discover(config.issuer)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": flow["verifier"],
        "client_id": config.client_id,
    }
    methods = meta.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    auth: httpx2.Auth | None = None
    if config.client_secret and "client_secret_basic" in methods:
        auth = httpx2.BasicAuth(config.client_id, config.client_secret)
    elif config.client_secret:
        form["client_secret"] = config.client_secret
    try:
        async with httpx2.AsyncClient(timeout=_HTTP_TIMEOUT) as client:
            reply = await client.post(
                meta["token_endpoint"], data=form, auth=auth or httpx2.USE_CLIENT_DEFAULT
            )
            if reply.status_code != 200:
                raise Unauthorized(
                    f"the identity provider refused the code ({reply.status_code})",
                    code="OIDC_CODE_REFUSED",
                )
            id_token = reply.json().get("id_token")
            keys = KeySet.import_key_set((await client.get(meta["jwks_uri"])).json())
    except (httpx2.HTTPError, ValueError) as exc:
        raise Unauthorized(
            f"the identity provider could not be reached: {exc}", code="OIDC_PROVIDER_UNAVAILABLE"
        ) from exc
    if not id_token:
        raise Unauthorized("the provider returned no ID token", code="OIDC_INVALID_TOKEN")
    try:
        token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": flow["nonce"]},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise Unauthorized(f"the ID token is not valid: {exc}", code="OIDC_INVALID_TOKEN") from exc
    return dict(token.claims), str(flow.get("return_to") or "/")


def roles_for(config: OidcConfig, claims: dict[str, Any]) -> list[str]:
    groups = claims.get(config.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    mapped = {r for g in groups if isinstance(g, str) for r in config.group_roles.get(g, [])}
    return sorted(mapped or config.default_roles)


async def account_for(
    db: Database, config: OidcConfig, claims: dict[str, Any], *, ip: str | None
) -> UserRow:
    """The fleetdeck user for these claims: created on first login, roles kept in step with
    the provider's groups at every login."""
    username = str(claims.get(config.username_claim) or claims["sub"])
    if not USERNAME_PATTERN.match(username):
        raise Forbidden(
            f"the provider's username {username!r} is not usable here", code="OIDC_BAD_USERNAME"
        )
    granted = roles_for(config, claims)
    if not granted:
        raise Forbidden(
            "none of your groups is mapped to a role on this server", code="OIDC_NO_ROLE"
        )
    async with db.write() as conn:
        user = await users.get_by_username(conn, username)
        if user is not None and user.auth_provider != PROVIDER:
            raise Conflict(
                f"a local account named {username} exists; it cannot sign in through OIDC",
                code="OIDC_LOCAL_ACCOUNT",
            )
        if user is not None and user.disabled:
            raise Unauthorized("this account is disabled", code="INVALID_CREDENTIALS")
        if user is None:
            user_id = await users.create(
                conn,
                username=username,
                password_hash=None,
                email=claims.get("email") if isinstance(claims.get("email"), str) else None,
                role_ids=tuple(granted),
                auth_provider=PROVIDER,
            )
            await audit.record(
                conn,
                action="user.create",
                success=True,
                actor=username,
                ip=ip,
                resource=f"user:{username}",
                details={"provider": PROVIDER, "roles": granted},
            )
        else:
            user_id = user.id
            if sorted(user.roles) != granted:
                await users.set_roles(conn, user_id, granted)
        found = await users.get(conn, user_id)
    assert found is not None
    return found
