"""The dashboard: server-rendered pages over the same API everyone else uses.

Pages authenticate with the session cookie that `POST /api/v1/auth/login` sets; their actions
call the JSON API from the browser with the CSRF header. A page never shows an action its
viewer may not take, and the API refuses it anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from fleetdeck import __version__
from fleetdeck.api.deps import SESSION_COOKIE, known_agent
from fleetdeck.api.settings import backups_of
from fleetdeck.auth.permissions import PERMISSIONS
from fleetdeck.auth.redirect import is_local_path
from fleetdeck.auth.service import Principal, authenticate
from fleetdeck.clock import rfc3339
from fleetdeck.collect.host import SECTIONS
from fleetdeck.config import duration_text
from fleetdeck.errors import NotFound
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.notify.templates import TEMPLATES
from fleetdeck.store import agents, api_tokens, audit, roles, users
from fleetdeck.store.engine import Database

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["duration_text"] = duration_text  # 86400 -> 1d, as settings are written
router = APIRouter(include_in_schema=False)

RANGES = ("5m", "15m", "30m", "1h", "4h", "12h", "24h", "7d")


async def _principal(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    db: Database = request.app.state.db
    return await authenticate(db, token)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _page(request: Request, name: str, principal: Principal | None, **context: Any) -> Response:
    return templates.TemplateResponse(
        request,
        name,
        {
            "me": principal,
            "can": (lambda p: principal is not None and principal.can(p)),
            "version": __version__,
            **context,
        },
    )


async def _signed_in(request: Request, needs: str | None = None) -> Principal | Response:
    """The viewer, or the response to send instead: the login page, the forced password
    change, or a "not allowed" page when the viewer lacks `needs`."""
    principal = await _principal(request)
    if principal is None:
        return _to_login(request)
    if principal.user.must_change_password:
        return RedirectResponse("/password", status_code=303)
    if needs is not None and not principal.can(needs):
        return _page(request, "denied.html", principal, permission=needs)
    return principal


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    safe_next = next if is_local_path(next) else "/"
    if await _principal(request) is not None:
        return RedirectResponse(safe_next, status_code=303)
    return _page(request, "login.html", None, next=safe_next)


@router.get("/password", response_class=HTMLResponse)
async def password_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login(request)
    return _page(request, "password.html", principal)


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    principal = await _signed_in(request)
    if isinstance(principal, Response):
        return principal
    hub = request.app.state.hub
    index = request.app.state.groups
    db: Database = request.app.state.db
    async with db.read() as conn:
        rows = await agents.list_all(conn, "approved")
    hosts = [{"id": LOCAL_AGENT_ID, "name": "this server", "status": "online"}] + [
        {"id": r.id, "name": r.name, "status": hub.status(r.id)} for r in rows
    ]
    visible = [h for h in hosts if principal.can_on("metrics:read", index.of(h["id"]))]
    return _page(request, "overview.html", principal, hosts=visible)


@router.get("/hosts/{agent_id}", response_class=HTMLResponse)
async def host_page(request: Request, agent_id: str) -> Response:
    principal = await _signed_in(request)
    if isinstance(principal, Response):
        return principal
    hub = request.app.state.hub
    try:
        host = known_agent(agent_id, hub)
    except NotFound:
        page = _page(request, "unknown_host.html", principal, agent_id=agent_id)
        page.status_code = 404
        return page
    state = hub.states.get(host)
    offline = None  # what the page says until a snapshot arrives, for an agent that is away
    if state is not None and not state.online:
        seen = rfc3339(state.last_seen)
        offline = f"offline since {seen}" if seen else "offline: it has not connected yet"
    return _page(request, "host.html", principal, agent_id=agent_id, ranges=RANGES, offline=offline)


@router.get("/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request) -> Response:
    principal = await _signed_in(request)
    if isinstance(principal, Response):
        return principal
    db: Database = request.app.state.db
    async with db.read() as conn:
        rows = await api_tokens.list_for(conn, principal.user.id)
    tokens = [
        {
            "id": t.id,
            "name": t.name,
            "prefix": t.prefix,
            "scopes": ", ".join(t.scopes),
            "created_at": rfc3339(t.created_at),
            "expires_at": rfc3339(t.expires_at) or "never",
            "last_used_at": rfc3339(t.last_used_at) or "never",
        }
        for t in rows
    ]
    scopes = [(p, text) for p, text in PERMISSIONS.items() if principal.can(p)]
    return _page(request, "tokens.html", principal, tokens=tokens, scopes=scopes)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    user: str | None = None,
    action: str | None = None,
    offset: int = 0,
) -> Response:
    principal = await _signed_in(request, "audit:read")
    if isinstance(principal, Response):
        return principal
    db: Database = request.app.state.db
    flt = audit.AuditFilter(user=user or None, action=action or None)
    async with db.read() as conn:
        rows, total = await audit.search(conn, flt, limit=50, offset=max(0, offset))
    events = [
        {**row, "timestamp": rfc3339(row["timestamp"]), "details": row["details"] or {}}
        for row in rows
    ]
    return _page(
        request,
        "audit.html",
        principal,
        events=events,
        total=total,
        offset=max(0, offset),
        user=user or "",
        action=action or "",
    )


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request) -> Response:
    principal = await _signed_in(request, "users:read")
    if isinstance(principal, Response):
        return principal
    db: Database = request.app.state.db
    async with db.read() as conn:
        rows, _total = await users.list_all(conn, limit=1000, offset=0)
        all_roles = await roles.list_all(conn)
    people = [
        {
            "id": u.id,
            "username": u.username,
            "email": u.email or "",
            "roles": list(u.roles),
            "provider": u.auth_provider,
            "disabled": u.disabled,
            "mfa": u.totp_enabled,
            "last_login": rfc3339(u.last_login) or "never",
        }
        for u in rows
    ]
    return _page(request, "users.html", principal, people=people, roles=all_roles)


@router.get("/roles", response_class=HTMLResponse)
async def roles_page(request: Request) -> Response:
    principal = await _signed_in(request, "roles:read")
    if isinstance(principal, Response):
        return principal
    db: Database = request.app.state.db
    async with db.read() as conn:
        all_roles = await roles.list_all(conn)
    return _page(request, "roles.html", principal, roles=all_roles, catalogue=PERMISSIONS)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request) -> Response:
    principal = await _signed_in(request, "settings:read")
    if isinstance(principal, Response):
        return principal
    interval = request.app.state.monitor.interval
    backups = backups_of(request.app)
    return _page(
        request,
        "settings.html",
        principal,
        interval=interval,
        backups=backups,
        retention=request.app.state.tsdb.retention_seconds,
        configured_retention=request.app.state.settings.retention_seconds,
    )


@router.get("/profile", response_class=HTMLResponse)
async def profile_page(request: Request) -> Response:
    principal = await _signed_in(request)
    if isinstance(principal, Response):
        return principal
    return _page(request, "profile.html", principal)


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request) -> Response:
    principal = await _signed_in(request, "alerts:read")
    if isinstance(principal, Response):
        return principal
    rules = list(request.app.state.evaluator.rules.values())
    return _page(request, "alerts.html", principal, rules=rules)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request) -> Response:
    principal = await _signed_in(request, "notifications:read")
    if isinstance(principal, Response):
        return principal
    return _page(request, "notifications.html", principal, templates=list(TEMPLATES))


@router.get("/agents", response_class=HTMLResponse)
async def agents_page(request: Request) -> Response:
    principal = await _signed_in(request, "agents:read")
    if isinstance(principal, Response):
        return principal
    hub = request.app.state.hub
    index = request.app.state.groups
    db: Database = request.app.state.db
    async with db.read() as conn:
        rows = await agents.list_all(conn)
        rules = await agents.list_rules(conn)
    listed = [
        {
            "id": r.id,
            "name": r.name,
            "hostname": r.hostname,
            "status": hub.shown_status(r),
            "version": r.version,
            "address": r.address or "",
            "fingerprint": r.fingerprint or "",
            "groups": ", ".join(sorted(index.of(r.id))),
            "last_seen": rfc3339(hub.shown_last_seen(r)) or "never",
            "interval": r.config.get("interval", 5.0),
            "commands": bool(r.config.get("commandsEnabled")),
            "collectors": ", ".join(r.config.get("collectors") or []),
        }
        for r in rows
    ]
    return _page(
        request,
        "agents.html",
        principal,
        pending=[a for a in listed if a["status"] == "pending"],
        fleet=[a for a in listed if a["status"] != "pending"],
        rules=rules,
        sections=", ".join(SECTIONS),
        local={  # the server's own host: its interval is the refresh interval (Settings)
            "interval": request.app.state.monitor.interval,
            "groups": ", ".join(sorted(index.of(LOCAL_AGENT_ID))),
        },
    )
