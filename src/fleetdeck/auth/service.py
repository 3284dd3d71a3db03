"""Logins, sessions and password changes: one transaction per unit of work, each audited."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetdeck.auth import passwords
from fleetdeck.auth.permissions import SYSTEM_ROLES, grants
from fleetdeck.auth.tokens import new_session_token, token_hash
from fleetdeck.clock import utcnow
from fleetdeck.errors import Conflict, Invalid, Unauthorized
from fleetdeck.store import audit, roles, sessions, users
from fleetdeck.store.engine import Database
from fleetdeck.store.users import UserRow

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the session that proved it."""

    user: UserRow
    session_id: str
    expires_at: datetime

    def can(self, permission: str) -> bool:
        return grants(self.user.permissions, permission)


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    user: UserRow
    expires_at: datetime


USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


async def ensure_system_roles(db: Database) -> None:
    async with db.write() as conn:
        await roles.upsert_system_roles(conn, SYSTEM_ROLES)


async def create_user(
    db: Database,
    username: str,
    password: str,
    role_ids: tuple[str, ...],
    *,
    email: str | None = None,
    actor: str | None = None,
) -> str:
    """Create a local user; raises Invalid for a bad name, password or role, Conflict if taken."""
    if not USERNAME_PATTERN.match(username):
        raise Invalid(
            "username must be 1-64 letters, digits or . _ @ - and start with a letter or digit",
            code="INVALID_USERNAME",
        )
    problem = passwords.weakness(password, username=username)
    if problem:
        raise Invalid(problem, code="WEAK_PASSWORD", details={"password": problem})
    password_hash = await passwords.hash_password_async(password)
    async with db.write() as conn:
        unknown = sorted(set(role_ids) - set(await roles.list_ids(conn)))
        if unknown:
            raise Invalid(f"unknown roles: {', '.join(unknown)}", code="UNKNOWN_ROLE")
        if await users.get_by_username(conn, username) is not None:
            raise Conflict(f"user {username} already exists", code="USER_EXISTS")
        user_id = await users.create(
            conn, username=username, password_hash=password_hash, email=email, role_ids=role_ids
        )
        await audit.record(
            conn,
            action="user.create",
            success=True,
            actor=actor,
            resource=f"user:{username}",
            details={"roles": list(role_ids)},
        )
    return user_id


async def bootstrap(db: Database, admin_password: str | None) -> str | None:
    """Write the system roles; on an empty database create `admin`.

    Returns the generated admin password when one had to be made up (to print once), else None.
    """
    await ensure_system_roles(db)
    async with db.read() as conn:
        if await users.count(conn) > 0:
            return None
    generated = None if admin_password else passwords.generate_password()
    password_hash = await passwords.hash_password_async(admin_password or generated or "")
    async with db.write() as conn:
        if await users.count(conn) > 0:  # another replica bootstrapped meanwhile
            return None
        await users.create(
            conn,
            username="admin",
            password_hash=password_hash,
            role_ids=("admin",),
            must_change_password=generated is not None,
        )
        await audit.record(conn, action="user.bootstrap", success=True, resource="user:admin")
    return generated


async def login(
    db: Database, username: str, password: str, *, ip: str | None, ttl_seconds: int
) -> LoginResult:
    async with db.read() as conn:
        user = await users.get_by_username(conn, username)
    ok = await passwords.verify_password_async(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        async with db.write() as conn:
            await audit.record(conn, action="auth.login", success=False, actor=username[:64], ip=ip)
        raise Unauthorized(BAD_CREDENTIALS, code="INVALID_CREDENTIALS")
    token = new_session_token()
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    async with db.write() as conn:
        await sessions.create(
            conn, token_hash=token_hash(token), user_id=user.id, expires_at=expires_at, ip=ip
        )
        await users.touch_login(conn, user.id)
        await audit.record(conn, action="auth.login", success=True, actor=user.username, ip=ip)
    return LoginResult(token=token, user=user, expires_at=expires_at)


async def authenticate(db: Database, token: str) -> Principal | None:
    """The principal behind a bearer token, or None when it is unknown, expired or disabled."""
    async with db.read() as conn:
        session = await sessions.find_valid(conn, token_hash(token))
        if session is None:
            return None
        user = await users.get(conn, session.user_id)
    if user is None or user.disabled:
        return None
    return Principal(user=user, session_id=session.id, expires_at=session.expires_at)


async def logout(db: Database, principal: Principal, *, ip: str | None) -> None:
    async with db.write() as conn:
        await sessions.delete(conn, principal.session_id)
        await audit.record(
            conn, action="auth.logout", success=True, actor=principal.user.username, ip=ip
        )


async def change_own_password(
    db: Database, principal: Principal, current: str, new: str, *, ip: str | None
) -> None:
    """Change the caller's password; other sessions of the user are ended."""
    user = principal.user
    if not await passwords.verify_password_async(user.password_hash, current):
        async with db.write() as conn:
            await audit.record(
                conn, action="auth.password_change", success=False, actor=user.username, ip=ip
            )
        raise Unauthorized("current password is wrong", code="INVALID_CREDENTIALS")
    problem = passwords.weakness(new, username=user.username)
    if problem is None and new == current:
        problem = "new password must differ from the current one"
    if problem:
        raise Invalid(problem, code="WEAK_PASSWORD", details={"new_password": problem})
    new_hash = await passwords.hash_password_async(new)
    async with db.write() as conn:
        await users.set_password(conn, user.id, new_hash, must_change=False)
        ended = await sessions.delete_for_user(conn, user.id, except_id=principal.session_id)
        await audit.record(
            conn,
            action="auth.password_change",
            success=True,
            actor=user.username,
            ip=ip,
            details={"sessions_ended": ended},
        )


async def update_own_email(
    db: Database, principal: Principal, email: str | None, *, ip: str | None
) -> None:
    async with db.write() as conn:
        await users.update_email(conn, principal.user.id, email)
        await audit.record(
            conn, action="auth.profile_update", success=True, actor=principal.user.username, ip=ip
        )
