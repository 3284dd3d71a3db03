"""`/api/v1/agents/connect`: the WebSocket each agent keeps open (messages in agent/protocol.py).

No user credentials here: the agent proves it holds the key an administrator trusted by
signing a fresh nonce. A malformed message is answered with an error and the connection
lives on; a bad signature, a revoked or unknown key closes it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from fleetdeck.agent import protocol
from fleetdeck.fleet.enrolment import verify
from fleetdeck.fleet.hub import Hub, Link, effective_config
from fleetdeck.store import agents, audit
from fleetdeck.store.agents import AgentRow
from fleetdeck.store.engine import Database

log = logging.getLogger(__name__)

router = APIRouter(tags=["agents"])

HELLO_TIMEOUT = 10.0
PENDING_WAIT = 50.0  # then the agent reconnects, which also keeps proxies from timing out


async def _receive(ws: WebSocket) -> str | bytes | None:
    """The next frame's data, or None once the peer has gone."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data: str | bytes | None = message.get("text")
    return data if data is not None else message.get("bytes") or b""


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        await ws.close(code, reason)
    except RuntimeError:  # already closed
        pass


async def _refuse(db: Database, ws: WebSocket, agent_id: str, reason: str, code: int) -> None:
    address = ws.client.host if ws.client else None
    log.warning("agent connection refused for %r from %s: %s", agent_id, address, reason)
    async with db.write() as conn:
        await audit.record(
            conn, action="agents.connect", success=False, actor=agent_id[:64], ip=address,
            resource=f"agent:{agent_id}", details={"reason": reason},
        )  # fmt: skip
    await _close(ws, code, reason)


async def _trusted(db: Database, hub: Hub, ws: WebSocket) -> tuple[AgentRow, dict[str, Any]] | None:
    """The challenge and hello: the agent's record once it is proven and approved."""
    nonce = secrets.token_bytes(32)
    await ws.send_bytes(protocol.encode("challenge", nonce=base64.b64encode(nonce).decode()))
    try:
        raw = await asyncio.wait_for(_receive(ws), HELLO_TIMEOUT)
    except TimeoutError:
        await _close(ws, protocol.CLOSE_TIMEOUT, "no hello in time")
        return None
    if raw is None:
        return None
    try:
        hello = protocol.decode(raw)
    except protocol.BadMessage as exc:
        await _close(ws, protocol.CLOSE_PROTOCOL, str(exc)[:120])
        return None
    agent_id = hello.get("agent_id")
    if hello["type"] != "hello" or not isinstance(agent_id, str) or len(agent_id) > 128:
        await _close(ws, protocol.CLOSE_PROTOCOL, "expected hello with an agent_id")
        return None
    async with db.read() as conn:
        row = await agents.get(conn, agent_id)
    if row is None or row.public_key is None:
        await _refuse(db, ws, agent_id, "unknown agent", protocol.CLOSE_UNKNOWN)
        return None
    if not verify(row.public_key, hello.get("signature"), protocol.hello_payload(nonce, agent_id)):
        await _refuse(db, ws, agent_id, "bad signature", protocol.CLOSE_REFUSED)
        return None
    if row.status == "pending":
        await ws.send_bytes(protocol.encode("pending"))
        await hub.wait_approved(agent_id, PENDING_WAIT)
        async with db.read() as conn:
            row = await agents.get(conn, agent_id)
        if row is None:
            await _close(ws, protocol.CLOSE_UNKNOWN, "removed")
            return None
        if row.status == "pending":
            await _close(ws, 1000, "still pending approval")
            return None
    if row.status != "approved":
        await _refuse(db, ws, agent_id, row.status, protocol.CLOSE_REFUSED)
        return None
    facts = hello.get("facts") if isinstance(hello.get("facts"), dict) else {}
    assert isinstance(facts, dict)
    address = ws.client.host if ws.client else None
    changes: dict[str, Any] = {"address": address}
    if facts and facts != row.facts:
        changes.update(
            facts=facts,
            version=str(facts.get("version", row.version))[:32],
            architecture=str(facts.get("architecture", row.architecture))[:32],
            os=str(facts.get("os", row.os))[:64],
        )
    if any(getattr(row, k) != v for k, v in changes.items()):
        async with db.write() as conn:
            await agents.update(conn, agent_id, **changes)
    return row, effective_config(row.config)


@router.websocket("/agents/connect")
async def connect(ws: WebSocket) -> None:
    db: Database = ws.app.state.db
    hub: Hub = ws.app.state.hub
    await ws.accept()
    trusted = await _trusted(db, hub, ws)
    if trusted is None:
        return
    row, config = trusted
    send_lock = asyncio.Lock()

    async def send(data: bytes) -> None:
        async with send_lock:
            await ws.send_bytes(data)

    async def close(code: int, reason: str) -> None:
        await _close(ws, code, reason)

    link = Link(row.id, send, close, ws.client.host if ws.client else None)
    try:
        await send(protocol.encode("welcome", agent_id=row.id, config=config))
        await hub.attach(link, config)
        while True:
            raw = await _receive(ws)
            if raw is None:
                break
            await _handle(hub, link, raw)
    except WebSocketDisconnect:
        pass
    except RuntimeError:  # closed by revoke or replacement while receiving
        pass
    finally:
        hub.detach(link)


async def _handle(hub: Hub, link: Link, raw: str | bytes) -> None:
    try:
        message = protocol.decode(raw)
    except protocol.BadMessage as exc:
        log.warning("agent %s sent a malformed message: %s", link.agent_id, exc)
        await link.send(protocol.encode("error", message=str(exc)[:200]))
        return
    kind = message["type"]
    if kind == "report":
        seq, ts, snapshot = message.get("seq"), message.get("ts"), message.get("snapshot")
        if not isinstance(seq, int) or not isinstance(ts, int) or not isinstance(snapshot, dict):
            log.warning("agent %s sent a report without seq, ts or snapshot", link.agent_id)
            await link.send(protocol.encode("error", message="a report needs seq, ts, snapshot"))
            return
        try:
            await hub.report(link.agent_id, ts, snapshot)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # Malformed inside: resending cannot help, so it is acknowledged and dropped.
            log.warning("agent %s sent a report that cannot be read: %r", link.agent_id, exc)
            await link.send(protocol.encode("error", message=f"report {seq} dropped: {exc!r}"))
        await link.send(protocol.encode("ack", seq=seq))
    elif kind in ("pong", "rotate", "process"):
        hub.answer(link, message)
    else:
        log.warning("agent %s sent an unknown message type %r", link.agent_id, kind)
        await link.send(protocol.encode("error", message=f"unknown message type {kind!r}"))
