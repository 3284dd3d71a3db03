"""Enrolling and removing the TOTP second factor of one's own account."""

from __future__ import annotations

from dataclasses import dataclass

from fleetdeck.auth import mfa, passwords
from fleetdeck.auth.service import AuthConfig, Principal, require_session
from fleetdeck.errors import Conflict, Invalid, Unauthorized
from fleetdeck.store import audit, users
from fleetdeck.store import mfa as mfa_store
from fleetdeck.store.engine import Database


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str


async def enrol(
    db: Database, config: AuthConfig, principal: Principal, *, ip: str | None
) -> Enrolment:
    """A new secret, pending until confirmed with a code from the authenticator."""
    require_session(principal)
    if principal.user.totp_enabled:
        raise Conflict("two-factor login is already on; disable it first", code="MFA_ENABLED")
    secret = mfa.new_secret()
    async with db.write() as conn:
        await users.set_totp(conn, principal.user.id, secret=config.box.seal(secret), enabled=False)
        await audit.record(
            conn, action="auth.mfa_enrol", success=True, actor=principal.actor, ip=ip
        )
    return Enrolment(secret, mfa.provisioning_uri(secret, principal.user.username))


async def confirm(
    db: Database, config: AuthConfig, principal: Principal, code: str, *, ip: str | None
) -> list[str]:
    """Turn the pending secret on; returns the recovery codes (shown once)."""
    require_session(principal)
    async with db.read() as conn:
        user = await users.get(conn, principal.user.id)
    if user is None or user.totp_secret is None or user.totp_enabled:
        raise Conflict("start with POST /api/v1/auth/mfa/enroll", code="MFA_NOT_PENDING")
    if not mfa.code_matches(config.box.open(user.totp_secret), code):
        raise Invalid("the code does not match; check the device's clock", code="INVALID_MFA_CODE")
    codes = mfa.new_recovery_codes()
    async with db.write() as conn:
        await users.set_totp(conn, user.id, secret=user.totp_secret, enabled=True)
        await mfa_store.replace_codes(conn, user.id, [mfa.recovery_hash(c) for c in codes])
        await audit.record(
            conn, action="auth.mfa_enable", success=True, actor=principal.actor, ip=ip
        )
    return codes


async def disable(db: Database, principal: Principal, password: str, *, ip: str | None) -> None:
    """Turn the second factor off; needs the password again."""
    require_session(principal)
    if not await passwords.verify_password_async(principal.user.password_hash, password):
        async with db.write() as conn:
            await audit.record(
                conn, action="auth.mfa_disable", success=False, actor=principal.actor, ip=ip
            )
        raise Unauthorized("password is wrong", code="INVALID_CREDENTIALS")
    async with db.write() as conn:
        await users.set_totp(conn, principal.user.id, secret=None, enabled=False)
        await mfa_store.replace_codes(conn, principal.user.id, [])
        await audit.record(
            conn, action="auth.mfa_disable", success=True, actor=principal.actor, ip=ip
        )


async def recovery_codes_left(db: Database, principal: Principal) -> int:
    async with db.read() as conn:
        return await mfa_store.remaining(conn, principal.user.id)
