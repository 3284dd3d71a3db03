"""OIDC login (Pulse): configuration, the redirect to the provider and the callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from fleetdeck.api.auth import login_reply
from fleetdeck.api.deps import AuthConfigDep, DatabaseDep, SettingsDep, client_ip, require
from fleetdeck.auth import oidc, service
from fleetdeck.auth.redirect import is_local_path
from fleetdeck.auth.service import Principal
from fleetdeck.errors import Invalid, NotFound

router = APIRouter(tags=["oidc"])

FLOW_COOKIE = "fleetdeck_oidc"
Name = Annotated[str, Field(min_length=1, max_length=64)]


class OidcSettings(BaseModel):
    enabled: bool
    issuer: str = Field(min_length=1, max_length=500, examples=["https://id.example.com"])
    client_id: str = Field(min_length=1, max_length=255)
    scopes: list[Name] = Field(default_factory=lambda: ["openid", "profile", "email"])
    username_claim: Name = "preferred_username"
    groups_claim: Name = "groups"
    group_roles: dict[Name, list[Name]] = Field(
        default_factory=dict, description="Provider group -> fleetdeck roles."
    )
    default_roles: list[Name] = Field(
        default_factory=list,
        description="Roles for users in no mapped group; empty refuses them.",
    )


class OidcSettingsIn(OidcSettings):
    client_secret: str | None = Field(
        None, max_length=1000, description="Omit to keep the stored secret."
    )


class OidcSettingsOut(OidcSettings):
    has_client_secret: bool
    redirect_uri: str = Field(description="Register this URI at the provider.")


def _redirect_uri(request: Request, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/") + "/api/v1/oidc/callback"
    return str(request.url_for("oidc_callback"))


def _out(config: oidc.OidcConfig, redirect_uri: str) -> OidcSettingsOut:
    return OidcSettingsOut(
        enabled=config.enabled,
        issuer=config.issuer,
        client_id=config.client_id,
        scopes=list(config.scopes),
        username_claim=config.username_claim,
        groups_claim=config.groups_claim,
        group_roles=config.group_roles,
        default_roles=list(config.default_roles),
        has_client_secret=bool(config.client_secret),
        redirect_uri=redirect_uri,
    )


@router.get("/security/oidc", response_model=OidcSettingsOut)
async def get_oidc(
    request: Request,
    db: DatabaseDep,
    auth: AuthConfigDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(require("security:read"))],
) -> OidcSettingsOut:
    config = await oidc.load(db, auth.box)
    if config is None:
        raise NotFound("OIDC login is not configured", code="OIDC_NOT_CONFIGURED")
    return _out(config, _redirect_uri(request, settings.public_url))


@router.post("/security/oidc", response_model=OidcSettingsOut)
async def set_oidc(
    body: OidcSettingsIn,
    request: Request,
    db: DatabaseDep,
    auth: AuthConfigDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require("security:write"))],
) -> OidcSettingsOut:
    """Configure OIDC login; the client secret is stored encrypted and never returned."""
    previous = await oidc.load(db, auth.box)
    secret = (
        body.client_secret
        if body.client_secret is not None
        else (previous.client_secret if previous else None)
    )
    config = oidc.OidcConfig(
        enabled=body.enabled,
        issuer=body.issuer.rstrip("/"),
        client_id=body.client_id,
        client_secret=secret or None,
        scopes=tuple(body.scopes),
        username_claim=body.username_claim,
        groups_claim=body.groups_claim,
        group_roles=body.group_roles,
        default_roles=tuple(body.default_roles),
    )
    await oidc.save(db, auth.box, config, actor=principal.actor, ip=client_ip(request))
    return _out(config, _redirect_uri(request, settings.public_url))


async def _enabled(db: DatabaseDep, auth: AuthConfigDep) -> oidc.OidcConfig:
    config = await oidc.load(db, auth.box)
    if config is None or not config.enabled:
        raise NotFound("OIDC login is not enabled", code="OIDC_NOT_CONFIGURED")
    return config


EnabledOidc = Annotated[oidc.OidcConfig, Depends(_enabled)]


@router.get("/oidc/login", status_code=302, response_class=RedirectResponse)
async def oidc_login(
    request: Request,
    config: EnabledOidc,
    auth: AuthConfigDep,
    settings: SettingsDep,
    return_to: Annotated[str, Query(max_length=500)] = "/api/v1/auth/me",
) -> RedirectResponse:
    """Send the browser to the identity provider; it comes back to `/api/v1/oidc/callback`."""
    if not is_local_path(return_to):
        raise Invalid("return_to must be a path on this server", code="INVALID_RETURN_TO")
    started = await oidc.start(
        config, auth.box, _redirect_uri(request, settings.public_url), return_to
    )
    response = RedirectResponse(started.authorize_url, status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        started.flow,
        max_age=oidc.FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/api/v1/oidc",
    )
    return response


@router.get(
    "/oidc/callback", name="oidc_callback", status_code=303, response_class=RedirectResponse
)
async def oidc_callback(
    request: Request,
    db: DatabaseDep,
    config: EnabledOidc,
    auth: AuthConfigDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=500)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Finish the login: check the ID token, map groups to roles, open a session (cookies)."""
    if error:
        raise Invalid(f"the identity provider answered: {error}", code="OIDC_DENIED")
    if not code or not state:
        raise Invalid("code and state are required", code="OIDC_BAD_CALLBACK")
    ip = client_ip(request)
    claims, return_to = await oidc.finish(
        config,
        auth.box,
        request.cookies.get(FLOW_COOKIE),
        code=code,
        state=state,
        redirect_uri=_redirect_uri(request, settings.public_url),
    )
    user = await oidc.account_for(db, config, claims, ip=ip)
    result = await service.login_external(db, auth, user, ip=ip, provider=oidc.PROVIDER)
    response = RedirectResponse(return_to, status_code=303)
    login_reply(request, response, result, auth.session_ttl)
    response.delete_cookie(FLOW_COOKIE, path="/api/v1/oidc")
    return response
