"""Process details and signals on the server's own host (Tyto `/api/v1/processes/:pid`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from fleetdeck.api.deps import DatabaseDep, HubDep, client_ip, local_only, require_on_host
from fleetdeck.auth.service import Principal
from fleetdeck.collect import process_control
from fleetdeck.errors import Forbidden, Invalid, NotFound
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.store import audit

router = APIRouter(prefix="/processes", tags=["processes"])

PidPath = Annotated[int, Path(ge=0, le=2**22)]
AgentQuery = Annotated[str | None, Query(max_length=128)]


class ProcessDetails(BaseModel):
    pid: int
    name: str
    cmdline: str
    user: str | None
    state: str
    cpu: float
    memory: int
    threads: int
    startTime: str  # the Tyto field name
    ppid: int


class SignalRequest(BaseModel):
    signal: int | str


class SignalResult(BaseModel):
    pid: int
    signal: int
    name: str
    sent: bool


@router.get("/{pid}", response_model=ProcessDetails)
async def get_process(
    pid: PidPath,
    _: Annotated[Principal, Depends(require_on_host("processes:read"))],
    hub: HubDep,
    agent_id: AgentQuery = None,
) -> ProcessDetails:
    local_only(agent_id, hub)
    try:
        info = await asyncio.to_thread(process_control.details, pid)
    except process_control.ProcessGone as exc:
        raise NotFound(f"no process {pid}", code="PROCESS_NOT_FOUND") from exc
    except process_control.SignalDenied as exc:
        raise Forbidden(str(exc), code="PROCESS_ACCESS_DENIED") from exc
    return ProcessDetails.model_validate(info)


@router.post("/{pid}/signal", response_model=SignalResult)
async def signal_process(
    pid: PidPath,
    body: SignalRequest,
    request: Request,
    db: DatabaseDep,
    principal: Annotated[Principal, Depends(require_on_host("processes:signal"))],
    hub: HubDep,
    agent_id: AgentQuery = None,
) -> SignalResult:
    local_only(agent_id, hub)
    try:
        signum = process_control.parse_signal(body.signal)
    except ValueError as exc:
        raise Invalid(str(exc), code="INVALID_SIGNAL", details={"signal": body.signal}) from exc
    error: Exception | None = None
    name = ""
    try:
        name = await asyncio.to_thread(process_control.send, pid, signum)
    except process_control.ProcessGone:
        error = NotFound(f"no process {pid}", code="PROCESS_NOT_FOUND")
    except process_control.SignalRefused as exc:
        error = Forbidden(str(exc), code="PROCESS_PROTECTED")
    except process_control.SignalDenied as exc:
        error = Forbidden(str(exc), code="PROCESS_ACCESS_DENIED")
    async with db.write() as conn:
        await audit.record(
            conn,
            action="process.signal",
            success=error is None,
            actor=principal.user.username,
            ip=client_ip(request),
            resource=f"process:{LOCAL_AGENT_ID}:{pid}",
            details={"signal": signum, "name": name, "error": str(error) if error else None},
        )
    if error is not None:
        raise error
    return SignalResult(pid=pid, signal=signum, name=name, sent=True)
