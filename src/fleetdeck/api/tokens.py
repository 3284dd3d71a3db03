"""API tokens (Pulse `/api/security/tokens`, here `/api/v1/tokens`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from fleetdeck.api.deps import ActivePrincipal, DatabaseDep, client_ip
from fleetdeck.auth import api_token_admin
from fleetdeck.clock import rfc3339
from fleetdeck.errors import Forbidden
from fleetdeck.store.api_tokens import TokenRow

router = APIRouter(prefix="/tokens", tags=["tokens"])


class Token(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="First characters of the token, to tell tokens apart.")
    owner: str
    scopes: list[str]
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class TokenList(BaseModel):
    tokens: list[Token]


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    scopes: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1,
        max_length=100,
        description="Permissions the token may use, within its owner's (`*`: all of them).",
    )
    expires_at: AwareDatetime | None = Field(None, description="RFC 3339; none = no expiry.")


class CreatedToken(Token):
    token: str = Field(description="The raw token: shown only in this reply.")


def token_out(row: TokenRow) -> Token:
    return Token(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        owner=row.username,
        scopes=list(row.scopes),
        created_at=rfc3339(row.created_at) or "",
        expires_at=rfc3339(row.expires_at),
        last_used_at=rfc3339(row.last_used_at),
    )


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None)


@router.get("", response_model=TokenList)
async def list_tokens(
    principal: ActivePrincipal,
    db: DatabaseDep,
    all_users: Annotated[bool, Query(alias="all")] = False,
) -> TokenList:
    """The caller's tokens; `?all=true` lists everyone's (needs `tokens:admin`)."""
    if all_users and not principal.can("tokens:admin"):
        raise Forbidden(
            "permission tokens:admin is required",
            code="PERMISSION_DENIED",
            details={"permission": "tokens:admin"},
        )
    rows = await api_token_admin.list_tokens(db, principal, everyone=all_users)
    return TokenList(tokens=[token_out(r) for r in rows])


@router.post("", response_model=CreatedToken, status_code=201)
async def create_token(
    body: NewToken, principal: ActivePrincipal, request: Request, db: DatabaseDep
) -> CreatedToken:
    """A token for scripts; use it as `Authorization: Bearer …` or `X-API-Token: …`."""
    created = await api_token_admin.create(
        db,
        principal,
        name=body.name,
        scopes=body.scopes,
        expires_at=_naive_utc(body.expires_at),
        ip=client_ip(request),
    )
    return CreatedToken(**token_out(created.row).model_dump(), token=created.token)


@router.delete("/{token_id}", status_code=204)
async def revoke_token(
    token_id: Annotated[str, Path(max_length=64)],
    principal: ActivePrincipal,
    request: Request,
    db: DatabaseDep,
) -> Response:
    await api_token_admin.revoke(db, principal, token_id, ip=client_ip(request))
    return Response(status_code=204)
