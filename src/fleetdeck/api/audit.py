"""The audit log (Pulse `/api/audit`, etcdmonitor, provisioning filters) and its verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from fleetdeck.api.deps import DatabaseDep, require
from fleetdeck.api.pagination import PageDep, add_page_headers
from fleetdeck.auth.service import Principal
from fleetdeck.clock import parse_time, rfc3339
from fleetdeck.errors import Invalid, NotFound
from fleetdeck.store import audit
from fleetdeck.store.engine import Database

router = APIRouter(prefix="/audit", tags=["audit"])

CanRead = Annotated[Principal, Depends(require("audit:read"))]
Text = Annotated[str | None, Query(max_length=255)]


class AuditEvent(BaseModel):
    id: int
    timestamp: str
    user: str | None = Field(description="Who acted (username, or the name tried at login).")
    ip: str | None
    action: str
    resource: str | None
    success: bool
    details: dict[str, Any]
    signature: str | None


class AuditList(BaseModel):
    events: list[AuditEvent]
    total: int


class Verification(BaseModel):
    id: int
    available: bool = Field(description="Whether the server holds the signing key.")
    verified: bool = Field(description="Signature and link to the previous event both hold.")
    signature_valid: bool
    chain_valid: bool
    message: str


def event_out(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        timestamp=rfc3339(row["timestamp"]) or "",
        user=row["actor"],
        ip=row["ip"],
        action=row["action"],
        resource=row["resource"],
        success=row["success"],
        details=row["details"] or {},
        signature=row["signature"],
    )


def _filter(
    user: Text = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="An action (`auth.login`) or a family (`auth.*`)."),
    ] = None,
    resource: Annotated[
        str | None, Query(max_length=255, description="Resource prefix, e.g. `user:` or `role:`.")
    ] = None,
    success: bool | None = None,
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
) -> audit.AuditFilter:
    try:
        since = parse_time(from_).replace(tzinfo=None) if from_ else None
        until = parse_time(to).replace(tzinfo=None) if to else None
    except ValueError as exc:
        raise Invalid(
            f"unparsable time: {exc}", code="INVALID_TIME", details={"from": from_, "to": to}
        ) from exc
    if since and until and since > until:
        raise Invalid("`from` is after `to`", code="INVALID_RANGE")
    return audit.AuditFilter(user, action, resource, success, since, until)


@router.get("", response_model=AuditList)
async def list_events(
    request: Request,
    response: Response,
    db: DatabaseDep,
    page: PageDep,
    flt: Annotated[audit.AuditFilter, Depends(_filter)],
    _: CanRead,
) -> AuditList:
    """Newest first, filtered by `user`, `action`, `resource`, `success`, `from`, `to`."""
    async with db.read() as conn:
        rows, total = await audit.search(conn, flt, limit=page.limit, offset=page.offset)
    add_page_headers(request, response, page, total)
    return AuditList(events=[event_out(r) for r in rows], total=total)


async def verify_event(db: Database, event_id: int) -> Verification:
    if db.audit_key is None:
        return Verification(
            id=event_id,
            available=False,
            verified=False,
            signature_valid=False,
            chain_valid=False,
            message="the server has no audit key",
        )
    async with db.read() as conn:
        verdict = await audit.verify_one(conn, db.audit_key, event_id)
    if verdict is None:
        raise NotFound(f"no audit event {event_id}", code="AUDIT_EVENT_NOT_FOUND")
    return Verification(
        id=event_id,
        available=True,
        verified=verdict.valid,
        signature_valid=verdict.signature_valid,
        chain_valid=verdict.chain_valid,
        message=verdict.problem or "signature and chain verified",
    )


@router.get("/{event_id}/verify", response_model=Verification)
async def verify(
    event_id: Annotated[int, Path(ge=1, le=2**62)], db: DatabaseDep, _: CanRead
) -> Verification:
    """Check the event's HMAC signature and its link to the event before it."""
    return await verify_event(db, event_id)
