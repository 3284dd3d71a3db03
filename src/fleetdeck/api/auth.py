"""Login, logout, refresh, registration, the caller's profile, password and second factor
(Tyto `/api/v1/auth/*`, the provisioning platform's `mfa_code` and refresh)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, EmailStr, Field

from fleetdeck.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ActivePrincipal,
    AnyPrincipal,
    AuthConfigDep,
    DatabaseDep,
    SettingsDep,
    client_ip,
)
from fleetdeck.auth import accounts, second_factor, service
from fleetdeck.auth.ratelimit import SlidingWindow
from fleetdeck.clock import rfc3339
from fleetdeck.errors import Forbidden, TooManyRequests
from fleetdeck.store.users import UserRow

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    mfa_code: str | None = Field(
        None,
        max_length=32,
        description="6-digit TOTP code, or a recovery code, when two-factor login is on.",
    )


class UserSummary(BaseModel):
    id: str
    username: str
    email: str | None
    roles: list[str]
    permissions: list[str]


class LoginResponse(BaseModel):
    token: str
    user: UserSummary
    expires_at: str
    must_change_password: bool


class Me(UserSummary):
    auth_provider: str
    last_login: str | None
    must_change_password: bool
    mfa_enabled: bool


class ProfileUpdate(BaseModel):
    email: EmailStr | None


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class Registration(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    email: EmailStr | None = None


class MfaEnrolment(BaseModel):
    secret: str
    otpauth_uri: str = Field(description="Show as a QR code to the authenticator app.")


class MfaCode(BaseModel):
    code: str = Field(min_length=6, max_length=32)


class MfaRecovery(BaseModel):
    recovery_codes: list[str] = Field(description="Each works once; shown only now.")


class MfaDisable(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


def summary(user: UserRow) -> UserSummary:
    return UserSummary(
        id=user.id,
        username=user.username,
        email=user.email,
        roles=list(user.roles),
        permissions=list(user.permissions),
    )


def _limiter(request: Request) -> SlidingWindow:
    limiter: SlidingWindow = request.app.state.login_limiter
    return limiter


def _set_session_cookies(
    request: Request, response: Response, result: service.LoginResult, ttl: int
) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, result.token, max_age=ttl, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), max_age=ttl, samesite="lax", secure=secure
    )


def login_reply(
    request: Request, response: Response, result: service.LoginResult, ttl: int
) -> LoginResponse:
    _set_session_cookies(request, response, result, ttl)
    return LoginResponse(
        token=result.token,
        user=summary(result.user),
        expires_at=rfc3339(result.expires_at) or "",
        must_change_password=result.user.must_change_password,
    )


@router.post("/login", response_model=LoginResponse)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: DatabaseDep,
    config: AuthConfigDep,
) -> LoginResponse:
    """Password (and `mfa_code` when two-factor login is on) for a session token, also set as an
    HttpOnly cookie with a CSRF cookie for browsers. Rate-limited per IP (`X-RateLimit-*`);
    repeated failures lock the account and the IP (429 `LOCKED_OUT`)."""
    ip = client_ip(request)
    decision = _limiter(request).hit(ip or "unknown")
    if not decision.allowed:
        raise TooManyRequests(
            "too many login attempts from this address; slow down",
            retry_after=decision.reset_seconds,
            headers=decision.headers(),
        )
    response.headers.update(decision.headers())
    result = await service.login(
        db, config, body.username, body.password, ip=ip, mfa_code=body.mfa_code
    )
    return login_reply(request, response, result, config.session_ttl)


@router.post("/refresh", response_model=LoginResponse)
async def refresh(
    principal: AnyPrincipal,
    request: Request,
    response: Response,
    db: DatabaseDep,
    config: AuthConfigDep,
) -> LoginResponse:
    """A new session token with a fresh expiry, before the current one runs out; the current
    token ends."""
    result = await service.refresh(db, config, principal, ip=client_ip(request))
    return login_reply(request, response, result, config.session_ttl)


@router.post("/logout", status_code=204)
async def logout(principal: AnyPrincipal, request: Request, db: DatabaseDep) -> Response:
    await service.logout(db, principal, ip=client_ip(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/register", response_model=UserSummary, status_code=201)
async def register(
    body: Registration, request: Request, db: DatabaseDep, settings: SettingsDep
) -> UserSummary:
    """Create one's own account with the `registration_role`; only when `allow_registration`
    is on."""
    if not settings.allow_registration:
        raise Forbidden("registration is disabled on this server", code="REGISTRATION_DISABLED")
    decision = _limiter(request).hit(client_ip(request) or "unknown")
    if not decision.allowed:
        raise TooManyRequests(
            "too many attempts from this address; slow down",
            retry_after=decision.reset_seconds,
            headers=decision.headers(),
        )
    user_id = await service.create_user(
        db,
        body.username,
        body.password,
        (settings.registration_role,),
        email=body.email,
        actor=body.username,
        ip=client_ip(request),
    )
    return summary(await accounts.get(db, user_id))


@router.get("/me", response_model=Me)
async def me(principal: ActivePrincipal) -> Me:
    user = principal.user
    return Me(
        **summary(user).model_dump(),
        auth_provider=user.auth_provider,
        last_login=rfc3339(user.last_login),
        must_change_password=user.must_change_password,
        mfa_enabled=user.totp_enabled,
    )


@router.put("/me", status_code=204)
async def update_me(
    body: ProfileUpdate, principal: ActivePrincipal, request: Request, db: DatabaseDep
) -> Response:
    await service.update_own_email(db, principal, body.email, ip=client_ip(request))
    return Response(status_code=204)


@router.put("/me/password", status_code=204)
async def change_password(
    body: PasswordChange,
    principal: AnyPrincipal,
    request: Request,
    db: DatabaseDep,
    config: AuthConfigDep,
) -> Response:
    """Change one's own password; failures count toward the lockout like failed logins."""
    await service.change_own_password(
        db, config, principal, body.current_password, body.new_password, ip=client_ip(request)
    )
    return Response(status_code=204)


@router.post("/mfa/enroll", response_model=MfaEnrolment)
async def mfa_enroll(
    principal: ActivePrincipal, request: Request, db: DatabaseDep, config: AuthConfigDep
) -> MfaEnrolment:
    """Start two-factor enrolment: a new TOTP secret and its `otpauth://` URI."""
    enrolment = await second_factor.enrol(db, config, principal, ip=client_ip(request))
    return MfaEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/mfa/confirm", response_model=MfaRecovery)
async def mfa_confirm(
    body: MfaCode,
    principal: ActivePrincipal,
    request: Request,
    db: DatabaseDep,
    config: AuthConfigDep,
) -> MfaRecovery:
    """Turn two-factor login on with a first code; returns ten one-time recovery codes."""
    codes = await second_factor.confirm(db, config, principal, body.code, ip=client_ip(request))
    return MfaRecovery(recovery_codes=codes)


@router.post("/mfa/disable", status_code=204)
async def mfa_disable(
    body: MfaDisable, principal: ActivePrincipal, request: Request, db: DatabaseDep
) -> Response:
    await second_factor.disable(db, principal, body.password, ip=client_ip(request))
    return Response(status_code=204)
