"""Host groups (Otto `/groups`): named sets of hosts that roles and alert rules can be bound to.

Members are agent ids: the server's own host is `local`."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from fleetdeck.api.deps import DatabaseDep, GroupsDep, audit_call, require
from fleetdeck.auth.service import Principal
from fleetdeck.errors import Conflict, Invalid, NotFound
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.store import agents, groups
from fleetdeck.store.groups import GroupRow

router = APIRouter(prefix="/groups", tags=["groups"])

GROUP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CanRead = Annotated[Principal, Depends(require("groups:read"))]
CanWrite = Annotated[Principal, Depends(require("groups:write"))]
GroupId = Annotated[str, Path(max_length=64)]


class Group(BaseModel):
    id: str
    name: str
    description: str
    members: list[str] = Field(description="Agent ids; the server's own host is `local`.")


class GroupList(BaseModel):
    groups: list[Group]


class NewGroup(BaseModel):
    id: str = Field(min_length=1, max_length=64, description="Used in roles and rules: `web`.")
    name: str | None = Field(None, max_length=128)
    description: str = Field("", max_length=500)


class GroupUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field("", max_length=500)


class Member(BaseModel):
    agent_id: str = Field(min_length=1, max_length=128)


def group_out(row: GroupRow) -> Group:
    return Group(id=row.id, name=row.name, description=row.description, members=list(row.members))


async def _group(db: DatabaseDep, group_id: str) -> GroupRow:
    async with db.read() as conn:
        row = await groups.get(conn, group_id)
    if row is None:
        raise NotFound(f"no group {group_id}", code="GROUP_NOT_FOUND")
    return row


@router.get("", response_model=GroupList)
async def list_groups(db: DatabaseDep, _: CanRead) -> GroupList:
    async with db.read() as conn:
        return GroupList(groups=[group_out(g) for g in await groups.list_all(conn)])


@router.post("", response_model=Group, status_code=201)
async def create_group(
    body: NewGroup, request: Request, db: DatabaseDep, principal: CanWrite
) -> Group:
    if not GROUP_ID.match(body.id):
        raise Invalid(
            "a group id is 1-64 letters, digits or . _ - (it appears in roles and rules)",
            code="INVALID_HOST_GROUP",
        )
    async with db.write() as conn:
        if await groups.get(conn, body.id) is not None:
            raise Conflict(f"group {body.id} exists", code="GROUP_EXISTS")
        await groups.put(conn, body.id, body.name or body.id, body.description)
        await audit_call(conn, request, principal, "group.create", resource=f"group:{body.id}")
    return group_out(await _group(db, body.id))


@router.get("/{group_id}", response_model=Group)
async def get_group(group_id: GroupId, db: DatabaseDep, _: CanRead) -> Group:
    return group_out(await _group(db, group_id))


@router.put("/{group_id}", response_model=Group)
async def update_group(
    group_id: GroupId, body: GroupUpdate, request: Request, db: DatabaseDep, principal: CanWrite
) -> Group:
    await _group(db, group_id)
    async with db.write() as conn:
        await groups.put(conn, group_id, body.name, body.description)
        await audit_call(conn, request, principal, "group.update", resource=f"group:{group_id}")
    return group_out(await _group(db, group_id))


@router.delete("/{group_id}", status_code=204)
async def delete_group(
    group_id: GroupId, request: Request, db: DatabaseDep, index: GroupsDep, principal: CanWrite
) -> Response:
    """Delete a group; roles and rules naming it then match no host."""
    await _group(db, group_id)
    async with db.write() as conn:
        await groups.delete(conn, group_id)
        await audit_call(conn, request, principal, "group.delete", resource=f"group:{group_id}")
    await index.reload()
    return Response(status_code=204)


@router.post("/{group_id}/members", response_model=Group)
async def add_member(
    group_id: GroupId, body: Member, request: Request, db: DatabaseDep, index: GroupsDep,
    principal: CanWrite,
) -> Group:  # fmt: skip
    await _group(db, group_id)
    async with db.read() as conn:
        known = body.agent_id == LOCAL_AGENT_ID or await agents.get(conn, body.agent_id)
    if not known:
        raise NotFound(f"no agent {body.agent_id!r}", code="AGENT_NOT_FOUND")
    async with db.write() as conn:
        await groups.add_member(conn, group_id, body.agent_id)
        await audit_call(
            conn, request, principal, "group.member_add", resource=f"group:{group_id}",
            details={"agent_id": body.agent_id},
        )  # fmt: skip
    await index.reload()
    return group_out(await _group(db, group_id))


@router.delete("/{group_id}/members/{agent_id}", response_model=Group)
async def remove_member(
    group_id: GroupId, agent_id: Annotated[str, Path(max_length=128)], request: Request,
    db: DatabaseDep, index: GroupsDep, principal: CanWrite,
) -> Group:  # fmt: skip
    await _group(db, group_id)
    async with db.write() as conn:
        removed = await groups.remove_member(conn, group_id, agent_id)
        if removed:
            await audit_call(
                conn, request, principal, "group.member_remove", resource=f"group:{group_id}",
                details={"agent_id": agent_id},
            )  # fmt: skip
    if not removed:
        raise NotFound(f"{agent_id} is not in {group_id}", code="MEMBER_NOT_FOUND")
    await index.reload()
    return group_out(await _group(db, group_id))
