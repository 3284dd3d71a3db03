"""Named dependencies: the database, the caller, and `require(permission)`."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.auth.ratelimit import SlidingWindow
from fleetdeck.auth.service import AuthConfig, Principal, authenticate
from fleetdeck.config import Settings
from fleetdeck.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from fleetdeck.fleet.groups import GroupIndex
from fleetdeck.fleet.hub import Hub
from fleetdeck.fleet.local import LOCAL_AGENT_ID, LocalMonitor
from fleetdeck.store import audit
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_auth_config(request: Request) -> AuthConfig:
    config: AuthConfig = request.app.state.auth_config
    return config


def get_monitor(request: Request) -> LocalMonitor:
    monitor: LocalMonitor = request.app.state.monitor
    return monitor


def get_tsdb(request: Request) -> TimeSeriesStore:
    tsdb: TimeSeriesStore = request.app.state.tsdb
    return tsdb


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MonitorDep = Annotated[LocalMonitor, Depends(get_monitor)]
TsdbDep = Annotated[TimeSeriesStore, Depends(get_tsdb)]
AuthConfigDep = Annotated[AuthConfig, Depends(get_auth_config)]

SESSION_COOKIE = "fleetdeck_session"
CSRF_COOKIE = "fleetdeck_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def target_host(agent_id: str | None, hub: Hub) -> str:
    """The host a process route acts on: the server's own (no agent_id, or `local`) or a
    connected agent's; an unknown agent is a 404."""
    if agent_id in (None, LOCAL_AGENT_ID):
        return LOCAL_AGENT_ID
    if agent_id in hub.states:
        return agent_id
    raise NotFound(f"no agent {agent_id!r}", code="AGENT_NOT_FOUND")


def known_agent(agent_id: str | None, hub: Hub) -> str:
    """The agent a live request is about: the server's own host or an approved agent."""
    if agent_id in (None, LOCAL_AGENT_ID):
        return LOCAL_AGENT_ID
    if agent_id not in hub.states:
        raise NotFound(f"no agent {agent_id!r}", code="AGENT_NOT_FOUND")
    return agent_id


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _token_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-token") or None


def _cookie_token(request: Request) -> str | None:
    """The browser's session cookie; unsafe methods must echo the CSRF cookie in a header
    (double submit), which a cross-site form or script cannot read to copy."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if request.method not in _SAFE_METHODS:
        expected = request.cookies.get(CSRF_COOKIE, "")
        sent = request.headers.get(CSRF_HEADER, "")
        if not expected or not hmac.compare_digest(expected, sent):
            raise Forbidden(
                "missing or wrong X-CSRF-Token header for a cookie session",
                code="CSRF_FAILED",
            )
    return token


async def authenticated(request: Request, db: DatabaseDep) -> Principal:
    """Any valid session, even one that must change its password first."""
    token = _token_from(request) or _cookie_token(request)
    if token is None:
        raise Unauthorized("authentication required", code="AUTH_REQUIRED")
    principal = await authenticate(db, token)
    if principal is None:
        raise Unauthorized("invalid or expired token", code="INVALID_TOKEN")
    request.state.principal = principal
    limiter: SlidingWindow | None = getattr(request.app.state, "api_limiter", None)
    if limiter is not None:
        decision = limiter.hit(principal.token_id or principal.user.id)
        request.state.rate_limit = decision
        if not decision.allowed:
            raise TooManyRequests(
                "too many requests; slow down",
                retry_after=decision.reset_seconds,
                headers=decision.headers(),
            )
    return principal


AnyPrincipal = Annotated[Principal, Depends(authenticated)]


async def active(principal: AnyPrincipal) -> Principal:
    """A valid session whose password need not be changed first."""
    if principal.user.must_change_password:
        raise Forbidden(
            "the password must be changed before anything else (PUT /api/v1/auth/me/password)",
            code="PASSWORD_CHANGE_REQUIRED",
        )
    return principal


ActivePrincipal = Annotated[Principal, Depends(active)]


def _denied(permission: str) -> Forbidden:
    return Forbidden(
        f"permission {permission} is required",
        code="PERMISSION_DENIED",
        details={"permission": permission},
    )


def require(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Dependency factory: the caller must hold `permission` (wildcards honoured)."""

    async def check(principal: ActivePrincipal) -> Principal:
        if not principal.can(permission):
            raise _denied(permission)
        return principal

    check.__name__ = f"require_{permission.replace(':', '_').replace('*', 'any')}"
    return check


def get_groups(request: Request) -> GroupIndex:
    index: GroupIndex = request.app.state.groups
    return index


GroupsDep = Annotated[GroupIndex, Depends(get_groups)]


def require_on_host(permission: str) -> Callable[..., Awaitable[Principal]]:
    """Like `require`, for a host named by the `agent_id` query parameter (default: the
    server's own): roles bound to host groups count when the host is in one of them."""

    async def check(principal: ActivePrincipal, request: Request, index: GroupsDep) -> Principal:
        agent_id = request.query_params.get("agent_id") or LOCAL_AGENT_ID
        if not principal.can_on(permission, index.of(agent_id)):
            raise Forbidden(
                f"permission {permission} is required on {agent_id}",
                code="PERMISSION_DENIED",
                details={"permission": permission, "agent_id": agent_id},
            )
        return principal

    check.__name__ = f"require_{permission.replace(':', '_')}_on_host"
    return check


def require_any_host(permission: str) -> Callable[..., Awaitable[Principal]]:
    """The caller holds `permission` on some hosts at least (the route filters per host)."""

    async def check(principal: ActivePrincipal) -> Principal:
        if not principal.can_somewhere(permission):
            raise _denied(permission)
        return principal

    check.__name__ = f"require_{permission.replace(':', '_')}_somewhere"
    return check


async def audit_call(
    conn: AsyncConnection,
    request: Request,
    principal: Principal,
    action: str,
    *,
    resource: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a successful state-changing call, by the caller, from the request's address."""
    await audit.record(
        conn,
        action=action,
        success=True,
        actor=principal.actor,
        ip=client_ip(request),
        resource=resource,
        details=details,
    )
