"""Agents (Tyto `/api/v1/agents`, pending approval, revoke) and enrolment tokens.

The server's own host is listed as the agent `local`. Hosts enrol with an Ed25519 key, wait for
approval (or a registration rule), then keep a WebSocket open (`api/agent_socket.py`)."""

from __future__ import annotations

import platform
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from fleetdeck import __version__
from fleetdeck.agent import protocol
from fleetdeck.api.deps import (
    DatabaseDep,
    GroupsDep,
    HubDep,
    MonitorDep,
    SettingsDep,
    audit_call,
    client_ip,
    require,
)
from fleetdeck.api.downloads import server_url
from fleetdeck.auth.ratelimit import SlidingWindow
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.collect.host import SECTIONS
from fleetdeck.datadir import TLS_DIR
from fleetdeck.errors import Conflict, Invalid, NotFound, TooManyRequests
from fleetdeck.fleet import enrolment
from fleetdeck.fleet.groups import GroupIndex
from fleetdeck.fleet.hub import Hub, effective_config
from fleetdeck.fleet.local import LOCAL_AGENT_ID, LocalMonitor
from fleetdeck.store import agents
from fleetdeck.store.agents import AgentRow

router = APIRouter(prefix="/agents", tags=["agents"])

CanRead = Annotated[Principal, Depends(require("agents:read"))]
CanWrite = Annotated[Principal, Depends(require("agents:write"))]
CanEnroll = Annotated[Principal, Depends(require("agents:enroll"))]
AgentId = Annotated[str, Path(max_length=128)]


class Agent(BaseModel):
    id: str
    name: str
    hostname: str
    status: str = Field(description="online, offline, pending, expected, rejected or revoked.")
    architecture: str
    os: str
    last_seen: str | None
    registered_at: str | None
    version: str
    groups: list[str]
    fingerprint: str | None
    address: str | None


class AgentList(BaseModel):
    agents: list[Agent]


class Preregister(BaseModel):
    id: str = Field(min_length=1, max_length=64, description="The host's name, lower case.")
    name: str = Field(min_length=1, max_length=128)


class TokenRequest(BaseModel):
    name: str = Field("enrolment", min_length=1, max_length=128)
    uses: int | None = Field(None, ge=1, le=100_000, description="None: unlimited.")
    expires_in_hours: int | None = Field(24, ge=1, le=24 * 365, description="None: never.")


class TokenCreated(BaseModel):
    id: str
    token: str = Field(description="Shown only in this reply.")
    install_command: str = Field(description="One line for the new host: install and enrol.")
    enroll_command: str = Field(description="For a host where fleetdeck is already installed.")


class TokenInfo(BaseModel):
    id: str
    name: str
    uses_left: int | None
    expires_at: str | None
    created_by: str
    created_at: str


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class Enrolment(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    hostname: str = Field(min_length=1, max_length=255)
    public_key: str = Field(min_length=40, max_length=64, description="Ed25519, base64.")
    name: str | None = Field(None, max_length=128)
    facts: dict[str, Any] = Field(default_factory=dict, max_length=50)


class Enrolled(BaseModel):
    agent_id: str
    status: Literal["pending", "approved"]
    fingerprint: str


def _local(monitor: LocalMonitor, index: GroupIndex) -> Agent:
    system = (monitor.latest or {}).get("system", {})
    return Agent(
        id=LOCAL_AGENT_ID,
        name="this server",
        hostname=system.get("hostname") or platform.node(),
        status="online",
        architecture=system.get("architecture") or platform.machine(),
        os=platform.system().lower(),
        last_seen=rfc3339(utcnow()),
        registered_at=None,
        version=__version__,
        groups=sorted(index.of(LOCAL_AGENT_ID)),
        fingerprint=None,
        address=None,
    )


def agent_out(row: AgentRow, index: GroupIndex, hub: Hub) -> Agent:
    return Agent(
        id=row.id,
        name=row.name,
        hostname=row.hostname,
        status=hub.shown_status(row),
        architecture=row.architecture,
        os=row.os,
        last_seen=rfc3339(hub.shown_last_seen(row)),
        registered_at=rfc3339(row.registered_at),
        version=row.version,
        groups=sorted(index.of(row.id)),
        fingerprint=row.fingerprint,
        address=row.address,
    )


@router.get("", response_model=AgentList)
async def list_agents(
    db: DatabaseDep, monitor: MonitorDep, index: GroupsDep, hub: HubDep, _: CanRead
) -> AgentList:
    """Every agent but those waiting for approval (`/agents/pending`), the server's own first."""
    async with db.read() as conn:
        rows = [r for r in await agents.list_all(conn) if r.status != "pending"]
    return AgentList(agents=[_local(monitor, index)] + [agent_out(r, index, hub) for r in rows])


@router.post("", response_model=Agent, status_code=201)
async def preregister(
    body: Preregister, request: Request, db: DatabaseDep, index: GroupsDep, hub: HubDep,
    principal: CanWrite,
) -> Agent:  # fmt: skip
    """Expect a host: when it enrols with this hostname it is approved at once."""
    row = await enrolment.preregister(db, principal, body.id, body.name, ip=client_ip(request))
    return agent_out(row, index, hub)


@router.get("/pending", response_model=AgentList)
async def pending(db: DatabaseDep, index: GroupsDep, hub: HubDep, _: CanRead) -> AgentList:
    async with db.read() as conn:
        rows = await agents.list_all(conn, "pending")
    return AgentList(agents=[agent_out(r, index, hub) for r in rows])


@router.post("/pending/{agent_id}/approve", response_model=Agent)
async def approve(
    agent_id: AgentId, request: Request, db: DatabaseDep, index: GroupsDep, hub: HubDep,
    principal: CanWrite,
) -> Agent:  # fmt: skip
    """Trust the agent; if it is waiting on its connection it starts reporting at once."""
    row = await enrolment.decide(db, principal, agent_id, "approve", ip=client_ip(request))
    hub.approved(agent_id, effective_config(row.config))
    return agent_out(row, index, hub)


@router.post("/pending/{agent_id}/reject", response_model=Agent)
async def reject(
    agent_id: AgentId, request: Request, db: DatabaseDep, index: GroupsDep, hub: HubDep,
    principal: CanWrite,
) -> Agent:  # fmt: skip
    row = await enrolment.decide(db, principal, agent_id, "reject", ip=client_ip(request))
    await hub.disconnect(agent_id, protocol.CLOSE_REFUSED, "rejected")
    return agent_out(row, index, hub)


@router.post("/enrollment-tokens", response_model=TokenCreated, status_code=201)
async def create_token(
    body: TokenRequest, request: Request, db: DatabaseDep, settings: SettingsDep,
    principal: CanEnroll,
) -> TokenCreated:  # fmt: skip
    """A token hosts use to ask to join; the reply has the command to run on the host."""
    expires = utcnow() + timedelta(hours=body.expires_in_hours) if body.expires_in_hours else None
    created = await enrolment.create_token(
        db, principal, name=body.name, uses=body.uses, expires_at=expires, ip=client_ip(request)
    )
    server = server_url(request, settings.public_url)
    pin = ""
    if settings.tls == "auto":
        from fleetdeck import tls  # with cryptography: only servers with --tls auto need it

        pin = " --ca-fingerprint " + tls.fingerprint(
            (settings.data_dir / TLS_DIR / "ca.pem").read_bytes()
        )
    fetch = "curl -fsSL" + (" -k" if pin else "")
    command = f"{fetch} {server}/install.sh | sh -s -- --token {created.token}{pin}"
    manual = f"fleetdeck agent enroll --server {server} --token {created.token}{pin}"
    return TokenCreated(
        id=created.id, token=created.token, install_command=command, enroll_command=manual
    )


@router.get("/enrollment-tokens", response_model=TokenList)
async def list_tokens(db: DatabaseDep, _: CanEnroll) -> TokenList:
    async with db.read() as conn:
        rows = await agents.list_tokens(conn)
    return TokenList(
        tokens=[
            TokenInfo(
                id=t.id,
                name=t.name,
                uses_left=t.uses_left,
                expires_at=rfc3339(t.expires_at),
                created_by=t.created_by,
                created_at=rfc3339(t.created_at) or "",
            )  # fmt: skip
            for t in rows
        ]
    )


@router.delete("/enrollment-tokens/{token_id}", status_code=204)
async def delete_token(
    token_id: Annotated[str, Path(max_length=64)], request: Request, db: DatabaseDep,
    principal: CanEnroll,
) -> Response:  # fmt: skip
    async with db.write() as conn:
        if not await agents.delete_token(conn, token_id):
            raise NotFound(f"no enrolment token {token_id}", code="TOKEN_NOT_FOUND")
        await audit_call(
            conn, request, principal, "agents.token_delete", resource=f"enrollment_token:{token_id}"
        )
    return Response(status_code=204)


@router.post("/enroll", response_model=Enrolled, status_code=201)
async def enroll(
    body: Enrolment, request: Request, db: DatabaseDep, index: GroupsDep, hub: HubDep
) -> Enrolled:
    """Called by `fleetdeck agent enroll` on the new host, with an enrolment token."""
    limiter: SlidingWindow = request.app.state.enroll_limiter
    decision = limiter.hit(f"enroll:{client_ip(request)}")
    if not decision.allowed:
        raise TooManyRequests(
            "too many enrolment attempts from this address",
            retry_after=decision.reset_seconds,
            headers=decision.headers(),
        )
    row = await enrolment.enroll(
        db, token=body.token, hostname=body.hostname, public_key=body.public_key,
        name=body.name, facts=body.facts, ip=client_ip(request),
    )  # fmt: skip
    status: Literal["pending", "approved"] = "approved" if row.status == "approved" else "pending"
    if status == "approved":  # pre-registered or vouched for by a registration rule
        await index.reload()
        hub.approved(row.id, effective_config(row.config))
    return Enrolled(agent_id=row.id, status=status, fingerprint=row.fingerprint or "")


@router.get("/{agent_id}", response_model=Agent)
async def get_agent(
    agent_id: AgentId, db: DatabaseDep, monitor: MonitorDep, index: GroupsDep, hub: HubDep,
    _: CanRead,
) -> Agent:  # fmt: skip
    if agent_id == LOCAL_AGENT_ID:
        return _local(monitor, index)
    async with db.read() as conn:
        row = await agents.get(conn, agent_id)
    if row is None:
        raise NotFound(f"no agent {agent_id!r}", code="AGENT_NOT_FOUND")
    return agent_out(row, index, hub)


@router.delete("/{agent_id}", status_code=204)
async def delete_agent(
    agent_id: AgentId, request: Request, db: DatabaseDep, hub: HubDep, principal: CanWrite
) -> Response:
    """Forget the agent (its history stays until retention removes it); its socket closes."""
    await enrolment.remove(db, principal, agent_id, ip=client_ip(request))
    await hub.disconnect(agent_id, protocol.CLOSE_UNKNOWN, "removed")
    return Response(status_code=204)


@router.post("/{agent_id}/revoke", response_model=Agent)
async def revoke(
    agent_id: AgentId, request: Request, db: DatabaseDep, index: GroupsDep, hub: HubDep,
    principal: CanWrite,
) -> Agent:  # fmt: skip
    """Refuse this agent's key from now on and close its connection (it must enrol again with
    a new key and approval)."""
    row = await enrolment.decide(db, principal, agent_id, "revoke", ip=client_ip(request))
    await hub.disconnect(agent_id, protocol.CLOSE_REFUSED, "revoked")
    return agent_out(row, index, hub)


@router.post("/{agent_id}/rotate", response_model=Agent)
async def rotate(
    agent_id: AgentId, request: Request, db: DatabaseDep, index: GroupsDep, hub: HubDep,
    principal: CanWrite,
) -> Agent:  # fmt: skip
    """Otto's identity rotation: the connected agent makes a new key, signs it with the old one,
    and is trusted under the new key only. 409 `AGENT_OFFLINE` when it is not connected."""
    row = await enrolment.rotate(db, hub, principal, agent_id, ip=client_ip(request))
    return agent_out(row, index, hub)


class Heartbeat(BaseModel):
    agent_id: str
    reachable: bool
    latency_ms: float | None = Field(description="Round trip over the agent's connection.")
    last_attempt: str
    last_reply: str | None
    version: str
    address: str | None
    properties: dict[str, Any] = Field(description="The facts the agent reported.")


@router.post("/{agent_id}/heartbeat", response_model=Heartbeat)
async def heartbeat(agent_id: AgentId, db: DatabaseDep, hub: HubDep, _: CanRead) -> Heartbeat:
    """Otto's heartbeat: a round trip to the agent now. An agent that is not connected or does
    not answer within 5 s is `reachable: false` (not an error)."""
    attempt = utcnow()
    if agent_id == LOCAL_AGENT_ID:
        return Heartbeat(
            agent_id=agent_id, reachable=True, latency_ms=0.0, last_attempt=rfc3339(attempt) or "",
            last_reply=rfc3339(attempt), version=__version__, address=None, properties={},
        )  # fmt: skip
    async with db.read() as conn:
        row = await agents.get(conn, agent_id)
    if row is None:
        raise NotFound(f"no agent {agent_id!r}", code="AGENT_NOT_FOUND")
    latency: float | None = None
    version = row.version
    try:
        reply, seconds = await hub.request(agent_id, "ping", HEARTBEAT_TIMEOUT)
        latency = round(seconds * 1000, 2)
        version = str(reply.get("version") or version)
    except Conflict:
        pass
    return Heartbeat(
        agent_id=agent_id,
        reachable=latency is not None,
        latency_ms=latency,
        last_attempt=rfc3339(attempt) or "",
        last_reply=rfc3339(utcnow()) if latency is not None else rfc3339(hub.last_seen(agent_id)),
        version=version,
        address=row.address,
        properties=row.facts,
    )


HEARTBEAT_TIMEOUT = 5.0


class AgentConfig(BaseModel):
    interval: float = Field(description="Seconds between reports.")
    collectors: list[str] = Field(description="Snapshot sections to collect; empty: all.")
    log_sources: list[str]
    commandsEnabled: bool = Field(  # the Pulse field name
        description="Whether the agent may run commands (it must also run with `--allow-commands`)."
    )


class AgentConfigPatch(BaseModel):
    model_config = {"extra": "forbid"}

    interval: float | None = Field(None, ge=1, le=3600)
    collectors: list[str] | None = Field(None, max_length=len(SECTIONS))
    log_sources: list[str] | None = Field(None, max_length=50)
    commandsEnabled: bool | None = None


async def _remote(db: DatabaseDep, agent_id: str) -> AgentRow:
    if agent_id == LOCAL_AGENT_ID:
        raise Conflict(
            "the server's own host follows the refresh interval: POST /api/v1/settings/refresh",
            code="AGENT_STATE",
        )
    async with db.read() as conn:
        row = await agents.get(conn, agent_id)
    if row is None:
        raise NotFound(f"no agent {agent_id!r}", code="AGENT_NOT_FOUND")
    return row


@router.get("/{agent_id}/config", response_model=AgentConfig)
async def get_config(agent_id: AgentId, db: DatabaseDep, _: CanRead) -> AgentConfig:
    """Pulse's remote config: what the server pushes to this agent."""
    row = await _remote(db, agent_id)
    return AgentConfig.model_validate(effective_config(row.config))


@router.patch("/{agent_id}/config", response_model=AgentConfig)
async def patch_config(
    agent_id: AgentId, body: AgentConfigPatch, request: Request, db: DatabaseDep, hub: HubDep,
    principal: CanWrite,
) -> AgentConfig:  # fmt: skip
    """Change some fields; a connected agent gets the new config at once."""
    row = await _remote(db, agent_id)
    changes = body.model_dump(exclude_none=True)
    unknown = sorted(set(changes.get("collectors", ())) - set(SECTIONS))
    if unknown:
        raise Invalid(
            f"unknown collectors: {', '.join(unknown)}",
            code="INVALID_COLLECTOR",
            details={"known": list(SECTIONS)},
        )
    stored = {**row.config, **changes}
    async with db.write() as conn:
        await agents.update(conn, agent_id, config=stored)
        await audit_call(
            conn, request, principal, "agents.config", resource=f"agent:{agent_id}",
            details=changes,
        )  # fmt: skip
    config = effective_config(stored)
    hub.set_interval(agent_id, float(config["interval"]))
    await hub.push(agent_id, "config", config=config)
    return AgentConfig.model_validate(config)
