"""Logins, sessions and password changes: one transaction per unit of work, each audited."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.auth import lockout, mfa, passwords
from fleetdeck.auth.keys import SecretBox
from fleetdeck.auth.permissions import SYSTEM_ROLES, grants
from fleetdeck.auth.tokens import API_TOKEN_PREFIX, new_session_token, token_hash
from fleetdeck.clock import utcnow
from fleetdeck.errors import Conflict, Forbidden, Invalid, Unauthorized
from fleetdeck.store import api_tokens, audit, roles, sessions, users
from fleetdeck.store import mfa as mfa_store
from fleetdeck.store.engine import Database
from fleetdeck.store.users import UserRow

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "invalid username, password or second-factor code"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the session or API token that proved it.

    An API token's `scopes` narrow the user's permissions, never widen them.
    """

    user: UserRow
    session_id: str | None
    expires_at: datetime | None
    token_id: str | None = None
    scopes: tuple[str, ...] | None = None

    def can(self, permission: str) -> bool:
        """Held on every host: through roles not bound to host groups."""
        return grants(self.user.permissions, permission) and self._in_scope(permission)

    def can_on(self, permission: str, host_groups: Iterable[str]) -> bool:
        """Held on a host in `host_groups`: unbound roles, or roles bound to one of them."""
        groups = set(host_groups)
        return self._in_scope(permission) and any(
            grants(perms, permission) and (not bound or groups.intersection(bound))
            for perms, bound in self.user.grants
        )

    def can_somewhere(self, permission: str) -> bool:
        """Held on at least some hosts: through any role, bound to host groups or not."""
        return self._in_scope(permission) and any(
            grants(perms, permission) for perms, _ in self.user.grants
        )

    def _in_scope(self, permission: str) -> bool:
        return self.scopes is None or grants(self.scopes, permission)

    @property
    def actor(self) -> str:
        return self.user.username


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    user: UserRow
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What the auth services need besides the database."""

    policy: lockout.Policy
    box: SecretBox
    session_ttl: int


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
    ip: str | None = None,
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
            ip=ip,
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


async def _second_factor_ok(
    conn: AsyncConnection, box: SecretBox, user: UserRow, code: str | None
) -> bool:
    if not user.totp_enabled:
        return True
    if not code or not user.totp_secret:
        return False
    if mfa.looks_like_recovery_code(code):
        return await mfa_store.use_code(conn, user.id, mfa.recovery_hash(code))
    return mfa.code_matches(box.open(user.totp_secret), code)


async def login(
    db: Database,
    config: AuthConfig,
    username: str,
    password: str,
    *,
    ip: str | None,
    mfa_code: str | None = None,
) -> LoginResult:
    """Password (and TOTP code when enabled) for a session token.

    Every failure looks the same, whether the user exists, the password or the code was wrong,
    or the account is disabled; each counts toward the lockout of the account and the IP.
    """
    keys = lockout.keys_for(username, ip)
    async with db.read() as conn:
        await lockout.ensure_open(conn, keys)
        user = await users.get_by_username(conn, username)
    stored_hash = user.password_hash if user is not None and user.auth_provider == "local" else None
    ok = await passwords.verify_password_async(stored_hash, password)
    async with db.write() as conn:
        if ok and user is not None and not user.disabled:
            ok = await _second_factor_ok(conn, config.box, user, mfa_code)
        if not ok or user is None or user.disabled:
            locked = await lockout.record_failure(conn, config.policy, keys)
            await audit.record(
                conn,
                action="auth.login",
                success=False,
                actor=username[:64],
                ip=ip,
                details={"locked": locked} if locked else None,
            )
    if not ok or user is None or user.disabled:
        raise Unauthorized(BAD_CREDENTIALS, code="INVALID_CREDENTIALS")
    return await _open_session(db, config, user, ip=ip, action="auth.login")


async def _open_session(
    db: Database, config: AuthConfig, user: UserRow, *, ip: str | None, action: str
) -> LoginResult:
    token = new_session_token()
    expires_at = utcnow() + timedelta(seconds=config.session_ttl)
    async with db.write() as conn:
        await sessions.create(
            conn, token_hash=token_hash(token), user_id=user.id, expires_at=expires_at, ip=ip
        )
        await users.touch_login(conn, user.id)
        await lockout.record_success(conn, user.username)
        await audit.record(conn, action=action, success=True, actor=user.username, ip=ip)
    return LoginResult(token=token, user=user, expires_at=expires_at)


async def login_external(
    db: Database, config: AuthConfig, user: UserRow, *, ip: str | None, provider: str
) -> LoginResult:
    """A session for a user an identity provider vouched for (OIDC)."""
    return await _open_session(db, config, user, ip=ip, action=f"auth.login.{provider}")


async def refresh(
    db: Database, config: AuthConfig, principal: Principal, *, ip: str | None
) -> LoginResult:
    """A new session token with a fresh expiry; the one presented ends."""
    if principal.session_id is None:
        raise Invalid("API tokens cannot be refreshed", code="NOT_A_SESSION")
    async with db.write() as conn:
        await sessions.delete(conn, principal.session_id)
    return await _open_session(db, config, principal.user, ip=ip, action="auth.refresh")


async def authenticate(db: Database, token: str) -> Principal | None:
    """The principal behind a session or API token, or None when unknown, expired or disabled."""
    digest = token_hash(token)
    last_used: datetime | None = None
    async with db.read() as conn:
        if token.startswith(API_TOKEN_PREFIX):
            api_token = await api_tokens.find_valid(conn, digest)
            if api_token is None:
                return None
            user = await users.get(conn, api_token.user_id)
            last_used = api_token.last_used_at
            principal = (
                None
                if user is None
                else Principal(
                    user=user,
                    session_id=None,
                    expires_at=api_token.expires_at,
                    token_id=api_token.id,
                    scopes=api_token.scopes,
                )
            )
        else:
            session = await sessions.find_valid(conn, digest)
            if session is None:
                return None
            user = await users.get(conn, session.user_id)
            principal = (
                None
                if user is None
                else Principal(user=user, session_id=session.id, expires_at=session.expires_at)
            )
    if principal is None or principal.user.disabled:
        return None
    if principal.token_id is not None and _stale(last_used):
        async with db.write() as conn:
            await api_tokens.touch(conn, principal.token_id)
    return principal


def _stale(last_used: datetime | None) -> bool:
    """Token use is written at most once a minute, not on every request."""
    return last_used is None or utcnow() - last_used > timedelta(minutes=1)


async def logout(db: Database, principal: Principal, *, ip: str | None) -> None:
    if principal.session_id is None:
        raise Invalid(
            "an API token is not a session; revoke it with DELETE /api/v1/tokens/{id}",
            code="NOT_A_SESSION",
        )
    async with db.write() as conn:
        await sessions.delete(conn, principal.session_id)
        await audit.record(conn, action="auth.logout", success=True, actor=principal.actor, ip=ip)


def require_session(principal: Principal) -> None:
    """Account changes need a login session, not an API token."""
    if principal.session_id is None:
        raise Forbidden("this needs a login session, not an API token", code="SESSION_REQUIRED")


async def change_own_password(
    db: Database,
    config: AuthConfig,
    principal: Principal,
    current: str,
    new: str,
    *,
    ip: str | None,
) -> None:
    """Change the caller's password; other sessions of the user are ended."""
    require_session(principal)
    user = principal.user
    keys = lockout.keys_for(user.username, ip)
    async with db.read() as conn:
        await lockout.ensure_open(conn, keys)
    if not await passwords.verify_password_async(user.password_hash, current):
        async with db.write() as conn:
            await lockout.record_failure(conn, config.policy, keys)
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
        await lockout.record_success(conn, user.username)
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
            conn, action="auth.profile_update", success=True, actor=principal.actor, ip=ip
        )
