"""Process details and signals (Tyto `/api/v1/processes/:pid`) on the server's own host, or
with `agent_id` on an agent's: the request travels over the agent's link and the agent applies
the same safety rules, when it allows commands (`--allow-commands` and `commandsEnabled`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from fleetdeck.api.deps import DatabaseDep, HubDep, client_ip, require_on_host, target_host
from fleetdeck.auth.service import Principal
from fleetdeck.collect import process_control
from fleetdeck.errors import Conflict, FleetdeckError, Forbidden, Invalid, NotFound
from fleetdeck.fleet.hub import Hub
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.store import audit

router = APIRouter(prefix="/processes", tags=["processes"])

PidPath = Annotated[int, Path(ge=0, le=2**22)]
REMOTE_TIMEOUT = 10.0  # seconds an agent has to answer a process action
# What an agent's refusal codes become here: the same errors as on the server's own host.
REFUSALS: dict[str, type[FleetdeckError]] = {
    "PROCESS_NOT_FOUND": NotFound,
    "PROCESS_PROTECTED": Forbidden,
    "PROCESS_ACCESS_DENIED": Forbidden,
    "INVALID_SIGNAL": Invalid,
    "INVALID_REQUEST": Invalid,
    "COMMANDS_DISABLED": Conflict,
}
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


async def on_agent(hub: Hub, agent_id: str, **request: object) -> dict[str, object]:
    """A process action run by a connected agent; its refusal raised as our error."""
    reply, _ = await hub.request(agent_id, "process", REMOTE_TIMEOUT, **request)
    error = reply.get("error")
    if isinstance(error, dict):
        code = str(error.get("code") or "AGENT_ERROR")
        raise REFUSALS.get(code, Conflict)(f"{agent_id}: {error.get('message')}", code=code)
    result = reply.get("result")
    if not isinstance(result, dict):
        raise Conflict(f"{agent_id} answered without a result", code="AGENT_ERROR")
    return result


@router.get("/{pid}", response_model=ProcessDetails)
async def get_process(
    pid: PidPath,
    _: Annotated[Principal, Depends(require_on_host("processes:read"))],
    hub: HubDep,
    agent_id: AgentQuery = None,
) -> ProcessDetails:
    host = target_host(agent_id, hub)
    if host != LOCAL_AGENT_ID:
        return ProcessDetails.model_validate(await on_agent(hub, host, action="details", pid=pid))
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
    host = target_host(agent_id, hub)
    try:
        signum = process_control.parse_signal(body.signal)
    except ValueError as exc:
        raise Invalid(str(exc), code="INVALID_SIGNAL", details={"signal": body.signal}) from exc
    error: Exception | None = None
    name = ""
    try:
        if host != LOCAL_AGENT_ID:
            sent = await on_agent(hub, host, action="signal", pid=pid, signal=signum)
            name = str(sent.get("name") or "")
        else:
            name = await asyncio.to_thread(process_control.send, pid, signum)
    except FleetdeckError as exc:
        error = exc
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
            resource=f"process:{host}:{pid}",
            details={"signal": signum, "name": name, "error": str(error) if error else None},
        )
    if error is not None:
        raise error
    return SignalResult(pid=pid, signal=signum, name=name, sent=True)
