"""Process details and signals (Tyto `/api/v1/processes/:pid`) on the server's own host, or
with `agent_id` on an agent's: the request travels over the agent's link and the agent applies
the same safety rules, when it allows commands (`--allow-commands` and `commandsEnabled`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from fleetdeck.agent import commands
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


async def act(hub: Hub, host: str, **request: object) -> dict[str, object]:
    """A process action on the server's own host or, over its link, on a connected agent's:
    the same code (agent/commands.py) and the same errors either way."""
    if host == LOCAL_AGENT_ID:
        try:
            return await asyncio.to_thread(commands.process_action, request)
        except commands.Refusal as refusal:
            error = REFUSALS.get(refusal.code, Conflict)
            raise error(refusal.message, code=refusal.code) from refusal
    reply, _ = await hub.request(host, "process", REMOTE_TIMEOUT, **request)
    refused = reply.get("error")
    if isinstance(refused, dict):
        code = str(refused.get("code") or "AGENT_ERROR")
        raise REFUSALS.get(code, Conflict)(f"{host}: {refused.get('message')}", code=code)
    result = reply.get("result")
    if not isinstance(result, dict):
        raise Conflict(f"{host} answered without a result", code="AGENT_ERROR")
    return result


@router.get("/{pid}", response_model=ProcessDetails)
async def get_process(
    pid: PidPath,
    _: Annotated[Principal, Depends(require_on_host("processes:read"))],
    hub: HubDep,
    agent_id: AgentQuery = None,
) -> ProcessDetails:
    host = target_host(agent_id, hub)
    return ProcessDetails.model_validate(await act(hub, host, action="details", pid=pid))


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
    error: FleetdeckError | None = None
    name = ""
    try:
        sent = await act(hub, host, action="signal", pid=pid, signal=signum)
        name = str(sent.get("name") or "")
    except FleetdeckError as exc:
        error = exc
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
