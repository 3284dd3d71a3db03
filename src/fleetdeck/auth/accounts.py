"""Administration of users and their roles (Tyto `/users`, Pulse role assignment).

Guards: nobody disables, demotes or locks out themselves, and the last enabled administrator
can be neither disabled nor demoted.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.auth import passwords
from fleetdeck.auth.service import Principal, create_user
from fleetdeck.errors import Conflict, Invalid, NotFound
from fleetdeck.store import api_tokens, audit, roles, sessions, users
from fleetdeck.store.engine import Database
from fleetdeck.store.users import UserRow

ADMIN_ROLE = "admin"


async def _user(conn: AsyncConnection, user_id: str) -> UserRow:
    user = await users.get(conn, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", code="USER_NOT_FOUND")
    return user


async def get(db: Database, user_id: str) -> UserRow:
    async with db.read() as conn:
        return await _user(conn, user_id)


async def list_users(db: Database, *, limit: int, offset: int) -> tuple[list[UserRow], int]:
    async with db.read() as conn:
        return await users.list_all(conn, limit=limit, offset=offset)


async def create(
    db: Database,
    principal: Principal | None,
    *,
    username: str,
    password: str,
    email: str | None,
    role_ids: tuple[str, ...],
    ip: str | None,
) -> UserRow:
    user_id = await create_user(
        db,
        username,
        password,
        role_ids,
        email=email,
        actor=principal.actor if principal else username,
        ip=ip,
    )
    return await get(db, user_id)


async def _check_roles(conn: AsyncConnection, role_ids: tuple[str, ...]) -> None:
    unknown = sorted(set(role_ids) - set(await roles.list_ids(conn)))
    if unknown:
        raise Invalid(
            f"unknown roles: {', '.join(unknown)}",
            code="UNKNOWN_ROLE",
            details={"roles": unknown},
        )


async def _keep_an_admin(conn: AsyncConnection, user: UserRow, *, losing: bool) -> None:
    """Refuse when `user` is the last enabled administrator and is about to stop being one."""
    if not losing or ADMIN_ROLE not in user.roles or user.disabled:
        return
    if set(await users.active_holders_of(conn, ADMIN_ROLE)) <= {user.id}:
        raise Conflict(
            "this is the last enabled administrator; make another one first",
            code="LAST_ADMIN",
        )


def _not_self(principal: Principal, user: UserRow, what: str) -> None:
    if principal.user.id == user.id:
        raise Conflict(f"you cannot {what} your own account", code="SELF_CHANGE_FORBIDDEN")


async def update(
    db: Database,
    principal: Principal,
    user_id: str,
    *,
    email: str | None,
    email_given: bool,
    role_ids: tuple[str, ...] | None,
    ip: str | None,
) -> UserRow:
    async with db.write() as conn:
        user = await _user(conn, user_id)
        changes: dict[str, object] = {}
        if email_given and email != user.email:
            await users.update_email(conn, user.id, email)
            changes["email"] = email
        if role_ids is not None and set(role_ids) != set(user.roles):
            await _check_roles(conn, role_ids)
            losing_admin = ADMIN_ROLE in user.roles and ADMIN_ROLE not in role_ids
            if losing_admin:
                _not_self(principal, user, "remove the admin role from")
            await _keep_an_admin(conn, user, losing=losing_admin)
            await users.set_roles(conn, user.id, sorted(set(role_ids)))
            changes["roles"] = {"from": list(user.roles), "to": sorted(set(role_ids))}
        await audit.record(
            conn,
            action="user.update",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"user:{user.username}",
            details=changes,
        )
        return await _user(conn, user_id)


async def disable(db: Database, principal: Principal, user_id: str, *, ip: str | None) -> None:
    """Soft delete: the account stays for the audit trail; its sessions end at once."""
    async with db.write() as conn:
        user = await _user(conn, user_id)
        _not_self(principal, user, "disable")
        await _keep_an_admin(conn, user, losing=True)
        await users.set_disabled(conn, user.id, True)
        ended = await sessions.delete_for_user(conn, user.id)
        revoked = await api_tokens.delete_for_user(conn, user.id)
        await audit.record(
            conn,
            action="user.disable",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"user:{user.username}",
            details={"sessions_ended": ended, "tokens_revoked": revoked},
        )


async def enable(db: Database, principal: Principal, user_id: str, *, ip: str | None) -> UserRow:
    async with db.write() as conn:
        user = await _user(conn, user_id)
        await users.set_disabled(conn, user.id, False)
        await audit.record(
            conn,
            action="user.enable",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"user:{user.username}",
        )
        return await _user(conn, user_id)


async def reset_password(
    db: Database, principal: Principal | None, user_id: str, new: str, *, ip: str | None
) -> None:
    """Set a temporary password the user must change at next login; their sessions end."""
    async with db.read() as conn:
        user = await _user(conn, user_id)
    if user.auth_provider != "local":
        raise Invalid(
            f"{user.username} signs in through {user.auth_provider}; it has no password here",
            code="EXTERNAL_ACCOUNT",
        )
    problem = passwords.weakness(new, username=user.username)
    if problem:
        raise Invalid(problem, code="WEAK_PASSWORD", details={"new_password": problem})
    new_hash = await passwords.hash_password_async(new)
    own = principal is not None and principal.user.id == user.id
    async with db.write() as conn:
        await users.set_password(conn, user.id, new_hash, must_change=not own)
        keep = principal.session_id if own and principal else None
        ended = await sessions.delete_for_user(conn, user.id, except_id=keep)
        await audit.record(
            conn,
            action="user.password_reset",
            success=True,
            actor=principal.actor if principal else "cli",
            ip=ip,
            resource=f"user:{user.username}",
            details={"sessions_ended": ended},
        )


async def add_role(
    db: Database, principal: Principal, user_id: str, role_id: str, *, ip: str | None
) -> UserRow:
    async with db.write() as conn:
        user = await _user(conn, user_id)
        await _check_roles(conn, (role_id,))
        if role_id not in user.roles:
            await users.set_roles(conn, user.id, sorted({*user.roles, role_id}))
        await audit.record(
            conn,
            action="user.role_add",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"user:{user.username}",
            details={"role": role_id},
        )
        return await _user(conn, user_id)


async def remove_role(
    db: Database, principal: Principal, user_id: str, role_id: str, *, ip: str | None
) -> UserRow:
    async with db.write() as conn:
        user = await _user(conn, user_id)
        if role_id not in user.roles:
            raise NotFound(
                f"{user.username} does not have the role {role_id}", code="ROLE_NOT_ASSIGNED"
            )
        if role_id == ADMIN_ROLE:
            _not_self(principal, user, "remove the admin role from")
            await _keep_an_admin(conn, user, losing=True)
        await users.set_roles(conn, user.id, [r for r in user.roles if r != role_id])
        await audit.record(
            conn,
            action="user.role_remove",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"user:{user.username}",
            details={"role": role_id},
        )
        return await _user(conn, user_id)
