"""API tokens (Pulse): named, scoped, optionally expiring. The raw token is returned once.

Everyone manages their own tokens; `tokens:admin` sees and revokes everyone's. Scopes can only
narrow: a token may not name a permission its owner (or the token creating it) lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fleetdeck.auth.permissions import unknown_permissions
from fleetdeck.auth.service import Principal
from fleetdeck.auth.tokens import new_api_token, token_hash
from fleetdeck.clock import utcnow
from fleetdeck.errors import Forbidden, Invalid, NotFound
from fleetdeck.store import api_tokens, audit
from fleetdeck.store.api_tokens import TokenRow
from fleetdeck.store.engine import Database

PREFIX_LENGTH = 10


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    row: TokenRow


async def create(
    db: Database,
    principal: Principal,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    ip: str | None,
) -> NewToken:
    unknown = unknown_permissions(scopes)
    if unknown:
        raise Invalid(
            f"unknown scopes: {', '.join(unknown)}",
            code="UNKNOWN_PERMISSION",
            details={"scopes": unknown},
        )
    if not scopes:
        raise Invalid("a token needs at least one scope (`*` for all of yours)", code="NO_SCOPES")
    # `*` means "all of the owner's permissions", fine for a session; a token may only pass it
    # on if it holds `*` itself. Anything else must be held: by the roles and, when the caller
    # is a token, by its scopes.
    wider = [
        s for s in scopes if not (principal.scopes is None or "*" in principal.scopes) if s == "*"
    ] + [s for s in scopes if s != "*" and not principal.can(s)]
    if wider:
        raise Forbidden(
            f"a token cannot hold what you do not: {', '.join(wider)}",
            code="SCOPE_EXCEEDS_PERMISSIONS",
            details={"scopes": wider},
        )
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("expires_at must be in the future", code="INVALID_EXPIRY")
    raw = new_api_token()
    async with db.write() as conn:
        token_id = await api_tokens.create(
            conn,
            user_id=principal.user.id,
            name=name,
            prefix=raw[:PREFIX_LENGTH],
            token_hash=token_hash(raw),
            scopes=list(dict.fromkeys(scopes)),
            expires_at=expires_at,
        )
        await audit.record(
            conn,
            action="token.create",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"token:{token_id}",
            details={"name": name, "scopes": scopes},
        )
        row = await api_tokens.get(conn, token_id)
    assert row is not None
    return NewToken(raw, row)


async def list_tokens(db: Database, principal: Principal, *, everyone: bool) -> list[TokenRow]:
    async with db.read() as conn:
        return await api_tokens.list_for(conn, None if everyone else principal.user.id)


async def revoke(db: Database, principal: Principal, token_id: str, *, ip: str | None) -> None:
    async with db.write() as conn:
        row = await api_tokens.get(conn, token_id)
        mine = row is not None and row.user_id == principal.user.id
        if row is None or not (mine or principal.can("tokens:admin")):
            raise NotFound(f"no token {token_id}", code="TOKEN_NOT_FOUND")
        await api_tokens.delete(conn, token_id)
        await audit.record(
            conn,
            action="token.revoke",
            success=True,
            actor=principal.actor,
            ip=ip,
            resource=f"token:{token_id}",
            details={"name": row.name, "owner": row.username},
        )
