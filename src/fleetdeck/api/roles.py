"""Roles (Tyto `/api/v1/roles`) and the permission catalogue they are made of."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from fleetdeck.api.deps import ActivePrincipal, DatabaseDep, client_ip, require
from fleetdeck.auth import role_admin
from fleetdeck.auth.permissions import PERMISSIONS
from fleetdeck.auth.service import Principal
from fleetdeck.store.roles import RoleRow

router = APIRouter(tags=["roles"])

RoleId = Annotated[str, Path(max_length=64)]
CanRead = Annotated[Principal, Depends(require("roles:read"))]
CanWrite = Annotated[Principal, Depends(require("roles:write"))]
PermissionList = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)]
GroupList = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)]


class Role(BaseModel):
    id: str
    name: str
    description: str
    permissions: list[str]
    is_system: bool
    host_groups: list[str] = Field(
        description="Host groups the permissions apply to; empty means every host."
    )


class RoleList(BaseModel):
    roles: list[Role]


class NewRole(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field("", max_length=500)
    permissions: PermissionList
    host_groups: GroupList = Field(default_factory=list)


class RoleUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=128)
    description: str | None = Field(None, max_length=500)
    permissions: PermissionList | None = None
    host_groups: GroupList | None = None


class Permission(BaseModel):
    id: str
    description: str


class PermissionCatalogue(BaseModel):
    permissions: list[Permission]


def role_out(role: RoleRow) -> Role:
    return Role(
        id=role.id,
        name=role.name,
        description=role.description,
        permissions=list(role.permissions),
        is_system=role.is_system,
        host_groups=list(role.host_groups),
    )


@router.get("/roles", response_model=RoleList)
async def list_roles(db: DatabaseDep, _: CanRead) -> RoleList:
    return RoleList(roles=[role_out(r) for r in await role_admin.list_roles(db)])


@router.post("/roles", response_model=Role, status_code=201)
async def create_role(
    body: NewRole, request: Request, db: DatabaseDep, principal: CanWrite
) -> Role:
    """A custom role; its id is made from the name (`Alert Manager` -> `alert-manager`)."""
    role = await role_admin.create(
        db,
        principal,
        name=body.name,
        description=body.description,
        permissions=body.permissions,
        host_groups=body.host_groups,
        ip=client_ip(request),
    )
    return role_out(role)


@router.put("/roles/{role_id}", response_model=Role)
async def update_role(
    role_id: RoleId, body: RoleUpdate, request: Request, db: DatabaseDep, principal: CanWrite
) -> Role:
    role = await role_admin.update(
        db,
        principal,
        role_id,
        name=body.name,
        description=body.description,
        permissions=body.permissions,
        host_groups=body.host_groups,
        ip=client_ip(request),
    )
    return role_out(role)


@router.delete("/roles/{role_id}", status_code=204)
async def delete_role(
    role_id: RoleId, request: Request, db: DatabaseDep, principal: CanWrite
) -> Response:
    """Delete a custom role (system roles cannot be deleted); users lose it at once."""
    await role_admin.delete(db, principal, role_id, ip=client_ip(request))
    return Response(status_code=204)


@router.get("/permissions", response_model=PermissionCatalogue)
async def permissions(_: ActivePrincipal) -> PermissionCatalogue:
    """Every permission fleetdeck checks; grants may also use `*` and `resource:*`."""
    return PermissionCatalogue(
        permissions=[Permission(id=k, description=v) for k, v in PERMISSIONS.items()]
    )
