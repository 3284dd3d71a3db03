"""Registration rules (Otto): enrolling hosts whose hostname or address matches are approved at
once and put into the rule's groups. The first matching rule, oldest first, applies."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field, model_validator

from fleetdeck.api.deps import DatabaseDep, audit_call, require
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339
from fleetdeck.errors import Invalid, NotFound
from fleetdeck.store import agents, groups
from fleetdeck.store.agents import RuleRow

router = APIRouter(prefix="/registration-rules", tags=["agents"])

CanRead = Annotated[Principal, Depends(require("agents:read"))]
CanWrite = Annotated[Principal, Depends(require("agents:write"))]
RuleId = Annotated[str, Path(max_length=64)]


class Rule(BaseModel):
    id: str
    name: str
    hostname_pattern: str | None
    address_range: str | None
    groups: list[str]
    created_at: str


class RuleList(BaseModel):
    rules: list[Rule]


class RuleBody(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    hostname_pattern: str | None = Field(
        None, max_length=255, description="Shell glob on the hostname, e.g. `web-*`."
    )
    address_range: str | None = Field(
        None, max_length=64, description="CIDR the enrolling address must be in: 10.0.0.0/8."
    )
    groups: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _one_condition(self) -> RuleBody:
        if not self.hostname_pattern and not self.address_range:
            raise ValueError("a rule needs hostname_pattern, address_range or both")
        if self.address_range:
            try:
                ipaddress.ip_network(self.address_range, strict=False)
            except ValueError as exc:
                raise ValueError(f"address_range: {exc}") from exc
        return self


def rule_out(row: RuleRow) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        hostname_pattern=row.hostname_pattern,
        address_range=row.address_range,
        groups=row.groups,
        created_at=rfc3339(row.created_at) or "",
    )


async def _checked(db: DatabaseDep, body: RuleBody) -> None:
    async with db.read() as conn:
        missing = [g for g in body.groups if await groups.get(conn, g) is None]
    if missing:
        raise Invalid(
            f"unknown groups: {', '.join(missing)}", code="GROUP_NOT_FOUND",
            details={"groups": missing},
        )  # fmt: skip


@router.get("", response_model=RuleList)
async def list_rules(db: DatabaseDep, _: CanRead) -> RuleList:
    async with db.read() as conn:
        return RuleList(rules=[rule_out(r) for r in await agents.list_rules(conn)])


@router.post("", response_model=Rule, status_code=201)
async def create_rule(
    body: RuleBody, request: Request, db: DatabaseDep, principal: CanWrite
) -> Rule:
    await _checked(db, body)
    async with db.write() as conn:
        rule_id = await agents.put_rule(conn, None, **body.model_dump())
        await audit_call(
            conn, request, principal, "agents.rule_create", resource=f"registration_rule:{rule_id}",
            details=body.model_dump(),
        )  # fmt: skip
        row = await agents.get_rule(conn, rule_id)
    assert row is not None
    return rule_out(row)


@router.get("/{rule_id}", response_model=Rule)
async def get_rule(rule_id: RuleId, db: DatabaseDep, _: CanRead) -> Rule:
    async with db.read() as conn:
        row = await agents.get_rule(conn, rule_id)
    if row is None:
        raise NotFound(f"no registration rule {rule_id}", code="RULE_NOT_FOUND")
    return rule_out(row)


@router.put("/{rule_id}", response_model=Rule)
async def update_rule(
    rule_id: RuleId, body: RuleBody, request: Request, db: DatabaseDep, principal: CanWrite
) -> Rule:
    await _checked(db, body)
    async with db.write() as conn:
        if await agents.get_rule(conn, rule_id) is None:
            raise NotFound(f"no registration rule {rule_id}", code="RULE_NOT_FOUND")
        await agents.put_rule(conn, rule_id, **body.model_dump())
        await audit_call(
            conn, request, principal, "agents.rule_update", resource=f"registration_rule:{rule_id}",
            details=body.model_dump(),
        )  # fmt: skip
        row = await agents.get_rule(conn, rule_id)
    assert row is not None
    return rule_out(row)


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: RuleId, request: Request, db: DatabaseDep, principal: CanWrite
) -> Response:
    async with db.write() as conn:
        if not await agents.delete_rule(conn, rule_id):
            raise NotFound(f"no registration rule {rule_id}", code="RULE_NOT_FOUND")
        await audit_call(
            conn, request, principal, "agents.rule_delete", resource=f"registration_rule:{rule_id}"
        )
    return Response(status_code=204)
