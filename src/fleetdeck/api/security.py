"""Security posture and lockouts (Pulse `/api/security/*`, here `/api/v1/security/*`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from fleetdeck.api.deps import DatabaseDep, SettingsDep, client_ip, require
from fleetdeck.auth import lockout, passwords
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.errors import NotFound
from fleetdeck.store import api_tokens, audit, lockouts, users

router = APIRouter(prefix="/security", tags=["security"])

NEAR_EXPIRY = timedelta(days=7)


class TokenExpiry(BaseModel):
    id: str
    name: str
    owner: str
    expires_at: str | None


class SecurityStatus(BaseModel):
    tls: bool = Field(description="Whether this request reached the server over HTTPS.")
    default_admin_password_in_use: bool = Field(
        description="The `admin` account still has the password from the configuration."
    )
    users_pending_password_change: int
    users: int
    mfa_enabled_users: int
    mfa_coverage: float = Field(description="Share of enabled local users with TOTP on, 0..1.")
    tokens_total: int
    tokens_without_expiry: int
    tokens_expiring_soon: list[TokenExpiry] = Field(description="Expiring within 7 days.")
    active_lockouts: int
    registration_enabled: bool
    audit_signing: bool


class Lockout(BaseModel):
    key: str = Field(description="`user:NAME` or `ip:ADDRESS`.")
    failures: int
    locked_until: str | None


class LockoutList(BaseModel):
    lockouts: list[Lockout]


class LockoutReset(BaseModel):
    identifier: str = Field(
        min_length=1, max_length=200, description="A username or an IP address."
    )


class LockoutResetResult(BaseModel):
    cleared: int


@router.get("/status", response_model=SecurityStatus)
async def status(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(require("security:read"))],
) -> SecurityStatus:
    now = utcnow()
    async with db.read() as conn:
        admin = await users.get_by_username(conn, "admin")
        everyone, _total = await users.list_all(conn, limit=100_000, offset=0)
        with_mfa, local = await users.mfa_coverage(conn)
        tokens = await api_tokens.list_for(conn, None)
        locked = await lockouts.locked(conn)
    default_in_use = False
    if admin is not None and settings.admin_password is not None and not admin.disabled:
        default_in_use = await passwords.verify_password_async(
            admin.password_hash, settings.admin_password.get_secret_value()
        )
    soon = [
        t for t in tokens if t.expires_at is not None and now < t.expires_at <= now + NEAR_EXPIRY
    ]
    return SecurityStatus(
        tls=request.url.scheme == "https",
        default_admin_password_in_use=default_in_use,
        users_pending_password_change=sum(
            1 for u in everyone if u.must_change_password and not u.disabled
        ),
        users=sum(1 for u in everyone if not u.disabled),
        mfa_enabled_users=with_mfa,
        mfa_coverage=round(with_mfa / local, 3) if local else 0.0,
        tokens_total=len(tokens),
        tokens_without_expiry=sum(1 for t in tokens if t.expires_at is None),
        tokens_expiring_soon=[
            TokenExpiry(id=t.id, name=t.name, owner=t.username, expires_at=rfc3339(t.expires_at))
            for t in soon
        ],
        active_lockouts=len(locked),
        registration_enabled=settings.allow_registration,
        audit_signing=db.audit_key is not None,
    )


@router.get("/lockouts", response_model=LockoutList)
async def list_lockouts(
    db: DatabaseDep, _: Annotated[Principal, Depends(require("security:read"))]
) -> LockoutList:
    """Accounts and addresses locked right now."""
    async with db.read() as conn:
        rows = await lockouts.locked(conn)
    return LockoutList(
        lockouts=[
            Lockout(key=r.key, failures=r.failures, locked_until=rfc3339(r.locked_until))
            for r in rows
        ]
    )


@router.post("/reset-lockout", response_model=LockoutResetResult)
async def reset_lockout(
    body: LockoutReset,
    request: Request,
    db: DatabaseDep,
    principal: Annotated[Principal, Depends(require("security:write"))],
) -> LockoutResetResult:
    """Clear the failure count and lock of a username or an IP address."""
    ident = body.identifier.strip()
    async with db.write() as conn:
        cleared = await lockouts.clear(conn, [lockout.user_key(ident), lockout.ip_key(ident)])
        await audit.record(
            conn,
            action="security.reset_lockout",
            success=cleared > 0,
            actor=principal.actor,
            ip=client_ip(request),
            resource=f"lockout:{ident}",
        )
    if cleared == 0:
        raise NotFound(f"no failures recorded for {ident}", code="NO_LOCKOUT")
    return LockoutResetResult(cleared=cleared)
