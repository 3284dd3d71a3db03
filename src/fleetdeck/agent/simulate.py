"""`fleetdeck bench agents`: many agents in one process, for load tests and demos.

Each simulated agent has its own Ed25519 key (kept in a state dir, so a second run reuses the
same agents), enrols with a real token, opens its own WebSocket, proves its key and sends a
report every interval: this host's real snapshot with its numbers varied per agent and tick.
Lag is the time from a report's timestamp to the server's acknowledgement, which the server
sends once the report is in the time-series store (queryable by the history API). Each agent's
first report is counted apart: it registers the new host's series in the database.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import connect

from fleetdeck.agent import protocol
from fleetdeck.agent.enroll import facts
from fleetdeck.agent.identity import Identity
from fleetdeck.agent.runner import handshake, websocket_url
from fleetdeck.collect.host import HostCollector, default_collectors


@dataclass
class Totals:
    enrolled: int = 0
    connected: int = 0
    sent: int = 0
    acked: int = 0
    errors: int = 0
    lags: list[float] = field(default_factory=list)  # all but each agent's first report
    first_lags: list[float] = field(default_factory=list)  # a new host's series are registered


def identities(state_dir: Path, count: int) -> list[Identity]:
    """`count` keys, reused from `keys.json` in the state dir where present."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / "keys.json"
    raw: list[str] = json.loads(path.read_text()) if path.exists() else []
    while len(raw) < count:
        key = Ed25519PrivateKey.generate()
        raw.append(
            base64.b64encode(
                key.private_bytes(
                    serialization.Encoding.Raw,
                    serialization.PrivateFormat.Raw,
                    serialization.NoEncryption(),
                )
            ).decode()
        )
    path.write_text(json.dumps(raw))
    path.chmod(0o600)
    return [
        Identity(Ed25519PrivateKey.from_private_bytes(base64.b64decode(r))) for r in raw[:count]
    ]


class Payloads:
    """One real snapshot of this host, varied per agent and tick so values and sizes are real."""

    def __init__(self) -> None:
        self.base = HostCollector(default_collectors()).snapshot(watched=True)
        self._frozen = orjson.dumps(self.base)  # orjson.loads copies it faster than deepcopy

    def make(self, hostname: str, rng: random.Random, load: float) -> dict[str, Any]:
        """`load` (0-1) is the agent's own level: a fleet of mostly quiet hosts, each wandering
        around its level, as real fleets are (not a storm of random threshold crossings)."""
        snap: dict[str, Any] = orjson.loads(self._frozen)
        snap["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        snap.setdefault("system", {})["hostname"] = hostname

        def around(centre: float, spread: float) -> float:
            return round(min(100.0, max(0.0, rng.gauss(centre, spread))), 1)

        cpu = snap.get("cpu") or {}
        if "totalUsage" in cpu:
            cpu["totalUsage"] = around(5 + 45 * load, 4)
            cpu["perCore"] = [around(5 + 45 * load, 8) for _ in cpu.get("perCore") or ()]
        memory = snap.get("memory") or {}
        if memory.get("total"):
            used = int(memory["total"] * around(20 + 50 * load, 0.5) / 100)
            memory["used"] = used
            memory["available"] = memory["total"] - used
        for iface in (snap.get("network") or {}).get("interfaces") or ():
            iface["rxRate"] = round(rng.uniform(0, 1e7), 1)
            iface["txRate"] = round(rng.uniform(0, 1e7), 1)
        return snap


async def _enrol(
    client: httpx2.AsyncClient, token: str, hostname: str, me: Identity, totals: Totals
) -> str:
    body = {"token": token, "hostname": hostname, "public_key": me.public_key_b64,
            "facts": facts()}  # fmt: skip
    while True:
        reply = await client.post("/api/v1/agents/enroll", json=body)
        if reply.status_code == 429:
            await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
            continue
        if reply.status_code != 201:
            raise RuntimeError(f"enrolment of {hostname} refused: {reply.text}")
        totals.enrolled += 1
        return str(reply.json()["agent_id"])


async def _approve(client: httpx2.AsyncClient, admin_token: str, agent_ids: list[str]) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    pending = await client.get("/api/v1/agents/pending", headers=headers)
    pending.raise_for_status()
    waiting = {a["id"] for a in pending.json()["agents"]} & set(agent_ids)
    for agent_id in sorted(waiting):
        reply = await client.post(f"/api/v1/agents/pending/{agent_id}/approve", headers=headers)
        reply.raise_for_status()


async def _agent(
    url: str, me: Identity, agent_id: str, interval: float, until: float,
    payloads: Payloads, totals: Totals,
) -> None:  # fmt: skip
    rng = random.Random(agent_id)
    load = rng.random()
    sent_at: dict[int, int] = {}
    await asyncio.sleep(rng.uniform(0, interval))  # a fleet comes up over an interval
    async with connect(url, open_timeout=60, max_size=2**22, ping_interval=None) as ws:
        await handshake(ws, me, agent_id, facts())
        totals.connected += 1

        async def receive() -> None:
            async for raw in ws:
                message = protocol.decode(raw)
                if message["type"] == "ack":
                    ts = sent_at.pop(message["seq"], None)
                    if ts is not None:
                        totals.acked += 1
                        lags = totals.first_lags if message["seq"] == 1 else totals.lags
                        lags.append(time.time() - ts / 1000)
                elif message["type"] == "error":
                    totals.errors += 1

        receiver = asyncio.create_task(receive())
        seq = 0
        next_at = time.monotonic()
        while time.monotonic() < until:
            seq += 1
            ts = int(time.time() * 1000)
            snapshot = payloads.make(agent_id, rng, load)
            sent_at[seq] = ts
            await ws.send(protocol.encode("report", seq=seq, ts=ts, snapshot=snapshot))
            totals.sent += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.sleep(min(5.0, interval))  # the last acknowledgements
        receiver.cancel()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    server: str, token: str, count: int, interval: float, duration: float, state_dir: Path,
    admin_token: str | None = None, progress: Callable[[str, Totals], None] | None = None,
    prefix: str = "bench",
) -> dict[str, Any]:  # fmt: skip
    totals = Totals()
    keys = identities(state_dir, count)
    payloads = Payloads()
    names = [f"{prefix}-{i:04d}" for i in range(count)]
    limits = httpx2.Limits(max_connections=16)
    async with httpx2.AsyncClient(base_url=server, timeout=60, limits=limits) as client:
        gate = asyncio.Semaphore(16)

        async def one(name: str, me: Identity) -> str:
            async with gate:
                return await _enrol(client, token, name, me, totals)

        agent_ids = await asyncio.gather(*(one(n, k) for n, k in zip(names, keys, strict=True)))
        if progress:
            progress("enrolled", totals)
        if admin_token:
            await _approve(client, admin_token, list(agent_ids))
    url = websocket_url(server)
    until = time.monotonic() + duration
    tasks = [
        asyncio.create_task(_agent(url, k, a, interval, until, payloads, totals))
        for k, a in zip(keys, agent_ids, strict=True)
    ]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1.0)
        if progress:
            progress("running", totals)
    failures = [t.exception() for t in tasks if t.exception() is not None]
    return {
        "agents": count,
        "interval_s": interval,
        "duration_s": duration,
        "enrolled": totals.enrolled,
        "connected": totals.connected,
        "failed_agents": len(failures),
        "first_failure": repr(failures[0]) if failures else None,
        "reports_sent": totals.sent,
        "reports_acked": totals.acked,
        "dropped": totals.sent - totals.acked,
        "errors": totals.errors,
        "lag_p50_ms": _ms(percentile(totals.lags, 0.50)),
        "lag_p99_ms": _ms(percentile(totals.lags, 0.99)),
        "lag_max_ms": _ms(max(totals.lags, default=None)),
        "first_report_lag_p99_ms": _ms(percentile(totals.first_lags, 0.99)),
        "payload_bytes": len(protocol.encode("report", seq=1, ts=1, snapshot=payloads.base)),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
