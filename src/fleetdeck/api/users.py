"""Users (Tyto `/api/v1/users`) and role assignment (Pulse), plus per-user panel config
(etcdmonitor `/api/v1/user/panel-config`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, EmailStr, Field

from fleetdeck.api.deps import ActivePrincipal, DatabaseDep, client_ip, require
from fleetdeck.api.pagination import PageDep, add_page_headers
from fleetdeck.auth import accounts
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339
from fleetdeck.store import audit, preferences
from fleetdeck.store.users import UserRow

router = APIRouter(tags=["users"])

UserId = Annotated[str, Path(max_length=64)]
RoleId = Annotated[str, Path(max_length=64)]
CanRead = Annotated[Principal, Depends(require("users:read"))]
CanWrite = Annotated[Principal, Depends(require("users:write"))]


class User(BaseModel):
    id: str
    username: str
    email: str | None
    roles: list[str]
    auth_provider: str
    disabled: bool
    mfa_enabled: bool
    created_at: str
    last_login: str | None


class UserList(BaseModel):
    users: list[User]


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    email: EmailStr | None = None
    roles: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=lambda: ["viewer"], max_length=50
    )


class UserUpdate(BaseModel):
    email: EmailStr | None = None
    roles: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=50)
    disabled: bool | None = Field(None, description="false re-enables a disabled user.")


class PasswordReset(BaseModel):
    new_password: str = Field(min_length=1, max_length=1024)


class RoleAssignment(BaseModel):
    role_id: str = Field(min_length=1, max_length=64)


class PanelConfig(BaseModel):
    panels: list[dict[str, Any]] = Field(
        max_length=200,
        description='Panels in display order, e.g. `{"id": "cpu", "visible": true}`.',
    )


def user_out(user: UserRow) -> User:
    return User(
        id=user.id,
        username=user.username,
        email=user.email,
        roles=list(user.roles),
        auth_provider=user.auth_provider,
        disabled=user.disabled,
        mfa_enabled=user.totp_enabled,
        created_at=rfc3339(user.created_at) or "",
        last_login=rfc3339(user.last_login),
    )


@router.get("/users", response_model=UserList)
async def list_users(
    request: Request, response: Response, db: DatabaseDep, page: PageDep, _: CanRead
) -> UserList:
    rows, total = await accounts.list_users(db, limit=page.limit, offset=page.offset)
    add_page_headers(request, response, page, total)
    return UserList(users=[user_out(u) for u in rows])


@router.post("/users", response_model=User, status_code=201)
async def create_user(
    body: NewUser, request: Request, db: DatabaseDep, principal: CanWrite
) -> User:
    user = await accounts.create(
        db,
        principal,
        username=body.username,
        password=body.password,
        email=body.email,
        role_ids=tuple(body.roles),
        ip=client_ip(request),
    )
    return user_out(user)


@router.get("/users/{user_id}", response_model=User)
async def get_user(user_id: UserId, db: DatabaseDep, _: CanRead) -> User:
    return user_out(await accounts.get(db, user_id))


@router.put("/users/{user_id}", response_model=User)
async def update_user(
    user_id: UserId, body: UserUpdate, request: Request, db: DatabaseDep, principal: CanWrite
) -> User:
    """Change email and roles; `disabled: false` re-enables a user."""
    ip = client_ip(request)
    user = await accounts.update(
        db,
        principal,
        user_id,
        email=body.email,
        email_given="email" in body.model_fields_set,
        role_ids=None if body.roles is None else tuple(body.roles),
        ip=ip,
    )
    if body.disabled is False and user.disabled:
        user = await accounts.enable(db, principal, user_id, ip=ip)
    elif body.disabled is True and not user.disabled:
        await accounts.disable(db, principal, user_id, ip=ip)
        user = await accounts.get(db, user_id)
    return user_out(user)


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(
    user_id: UserId, request: Request, db: DatabaseDep, principal: CanWrite
) -> Response:
    """Disable (soft delete): sessions end and API tokens are revoked at once."""
    await accounts.disable(db, principal, user_id, ip=client_ip(request))
    return Response(status_code=204)


@router.put("/users/{user_id}/password", status_code=204)
async def reset_password(
    user_id: UserId, body: PasswordReset, request: Request, db: DatabaseDep, principal: CanWrite
) -> Response:
    """Set a temporary password; the user must change it at next login."""
    await accounts.reset_password(db, principal, user_id, body.new_password, ip=client_ip(request))
    return Response(status_code=204)


@router.post("/users/{user_id}/roles", response_model=User)
async def add_role(
    user_id: UserId, body: RoleAssignment, request: Request, db: DatabaseDep, principal: CanWrite
) -> User:
    user = await accounts.add_role(db, principal, user_id, body.role_id, ip=client_ip(request))
    return user_out(user)


@router.delete("/users/{user_id}/roles/{role_id}", response_model=User)
async def remove_role(
    user_id: UserId, role_id: RoleId, request: Request, db: DatabaseDep, principal: CanWrite
) -> User:
    user = await accounts.remove_role(db, principal, user_id, role_id, ip=client_ip(request))
    return user_out(user)


@router.get("/user/panel-config", response_model=PanelConfig)
async def get_panel_config(principal: ActivePrincipal, db: DatabaseDep) -> PanelConfig:
    """The caller's dashboard panels; an empty list until saved (the dashboard's default)."""
    async with db.read() as conn:
        stored = await preferences.get_panel_config(conn, principal.user.id)
    return PanelConfig(panels=stored or [])


@router.put("/user/panel-config", response_model=PanelConfig)
async def put_panel_config(
    body: PanelConfig, principal: ActivePrincipal, request: Request, db: DatabaseDep
) -> PanelConfig:
    async with db.write() as conn:
        await preferences.put_panel_config(conn, principal.user.id, body.panels)
        await audit.record(
            conn,
            action="user.panel_config",
            success=True,
            actor=principal.actor,
            ip=client_ip(request),
            resource=f"user:{principal.actor}",
            details={"panels": len(body.panels)},
        )
    return body
