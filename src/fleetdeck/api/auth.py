"""Login, logout, the caller's profile and password (Tyto `/api/v1/auth/*`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, EmailStr, Field

from fleetdeck.api.deps import ActivePrincipal, AnyPrincipal, DatabaseDep, SettingsDep, client_ip
from fleetdeck.auth import service
from fleetdeck.clock import rfc3339
from fleetdeck.store.users import UserRow

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


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


class ProfileUpdate(BaseModel):
    email: EmailStr | None


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


def _summary(user: UserRow) -> UserSummary:
    return UserSummary(
        id=user.id,
        username=user.username,
        email=user.email,
        roles=list(user.roles),
        permissions=list(user.permissions),
    )


@router.post("/login", response_model=LoginResponse)
async def login(
    body: LoginRequest, request: Request, db: DatabaseDep, settings: SettingsDep
) -> LoginResponse:
    result = await service.login(
        db, body.username, body.password, ip=client_ip(request), ttl_seconds=settings.session_ttl
    )
    return LoginResponse(
        token=result.token,
        user=_summary(result.user),
        expires_at=rfc3339(result.expires_at) or "",
        must_change_password=result.user.must_change_password,
    )


@router.post("/logout", status_code=204)
async def logout(principal: AnyPrincipal, request: Request, db: DatabaseDep) -> Response:
    await service.logout(db, principal, ip=client_ip(request))
    return Response(status_code=204)


@router.get("/me", response_model=Me)
async def me(principal: ActivePrincipal) -> Me:
    user = principal.user
    return Me(
        **_summary(user).model_dump(),
        auth_provider=user.auth_provider,
        last_login=rfc3339(user.last_login),
        must_change_password=user.must_change_password,
    )


@router.put("/me", status_code=204)
async def update_me(
    body: ProfileUpdate, principal: ActivePrincipal, request: Request, db: DatabaseDep
) -> Response:
    await service.update_own_email(db, principal, body.email, ip=client_ip(request))
    return Response(status_code=204)


@router.put("/me/password", status_code=204)
async def change_password(
    body: PasswordChange, principal: AnyPrincipal, request: Request, db: DatabaseDep
) -> Response:
    await service.change_own_password(
        db, principal, body.current_password, body.new_password, ip=client_ip(request)
    )
    return Response(status_code=204)
