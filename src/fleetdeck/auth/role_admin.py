"""Custom roles (Tyto `/roles`): `resource:action` permissions with wildcards, optionally bound
to host groups. System roles are defined in code and cannot be changed or deleted."""

from __future__ import annotations

import re

from fleetdeck.auth.permissions import unknown_permissions
from fleetdeck.auth.service import Principal
from fleetdeck.errors import Conflict, Forbidden, Invalid, NotFound
from fleetdeck.store import audit, roles, users
from fleetdeck.store.engine import Database
from fleetdeck.store.roles import RoleRow

GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]


def _validate(permissions: list[str], host_groups: list[str]) -> None:
    unknown = unknown_permissions(permissions)
    if unknown:
        raise Invalid(
            f"unknown permissions: {', '.join(unknown)} (see GET /api/v1/permissions)",
            code="UNKNOWN_PERMISSION",
            details={"permissions": unknown},
        )
    bad = [g for g in host_groups if not GROUP_PATTERN.match(g)]
    if bad:
        raise Invalid(
            f"invalid host group names: {', '.join(bad)}",
            code="INVALID_HOST_GROUP",
            details={"host_groups": bad},
        )


async def list_roles(db: Database) -> list[RoleRow]:
    async with db.read() as conn:
        return await roles.list_all(conn)


async def create(
    db: Database,
    principal: Principal,
    *,
    name: str,
    description: str,
    permissions: list[str],
    host_groups: list[str],
    ip: str | None,
) -> RoleRow:
    _validate(permissions, host_groups)
    role_id = slug(name)
    if not role_id:
        raise Invalid("the name needs at least one letter or digit", code="INVALID_ROLE_NAME")
    role = RoleRow(
        id=role_id,
        name=name,
        description=description,
        permissions=tuple(dict.fromkeys(permissions)),
        is_system=False,
        host_groups=tuple(dict.fromkeys(host_groups)),
    )
    async with db.write() as conn:
        if await roles.get(conn, role_id) is not None:
            raise Conflict(f"a role with id {role_id} exists", code="ROLE_EXISTS")
        await roles.create(conn, role)
        await audit.record(
            conn,
            action="role.create",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"role:{role_id}",
            details={"permissions": list(role.permissions), "host_groups": list(host_groups)},
        )
    return role


def _custom(role: RoleRow | None, role_id: str, verb: str) -> RoleRow:
    if role is None:
        raise NotFound(f"no role {role_id}", code="ROLE_NOT_FOUND")
    if role.is_system:
        raise Forbidden(f"system role {role_id} cannot be {verb}", code="SYSTEM_ROLE")
    return role


async def update(
    db: Database,
    principal: Principal,
    role_id: str,
    *,
    name: str | None,
    description: str | None,
    permissions: list[str] | None,
    host_groups: list[str] | None,
    ip: str | None,
) -> RoleRow:
    _validate(permissions or [], host_groups or [])
    async with db.write() as conn:
        role = _custom(await roles.get(conn, role_id), role_id, "changed")
        updated = RoleRow(
            id=role.id,
            name=role.name if name is None else name,
            description=role.description if description is None else description,
            permissions=role.permissions
            if permissions is None
            else tuple(dict.fromkeys(permissions)),
            is_system=False,
            host_groups=role.host_groups
            if host_groups is None
            else tuple(dict.fromkeys(host_groups)),
        )
        await roles.update(conn, updated)
        await audit.record(
            conn,
            action="role.update",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"role:{role_id}",
            details={
                "permissions": list(updated.permissions),
                "host_groups": list(updated.host_groups),
            },
        )
    return updated


async def delete(db: Database, principal: Principal, role_id: str, *, ip: str | None) -> None:
    async with db.write() as conn:
        _custom(await roles.get(conn, role_id), role_id, "deleted")
        holders = await users.active_holders_of(conn, role_id)
        await roles.delete(conn, role_id)
        await audit.record(
            conn,
            action="role.delete",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"role:{role_id}",
            details={"users_affected": len(holders)},
        )
