"""The overview's view of a host: a few figures per report, for one stream that carries the
whole fleet (`GET /api/v1/stream/fleet`) instead of one stream per host. Watching the overview
therefore never puts hosts into their every-second live mode."""

from __future__ import annotations

from typing import Any

import orjson

from fleetdeck import sse
from fleetdeck.tsdb import series

FLEET_TOPIC = "fleet.summary"


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summary(agent_id: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    cpu = snapshot.get("cpu") or {}
    memory = snapshot.get("memory") or {}
    mounts = (snapshot.get("disk") or {}).get("mounts") or []
    root = next((m for m in mounts if m.get("mountpoint") == "/"), mounts[0] if mounts else {})
    interfaces = [
        i
        for i in (snapshot.get("network") or {}).get("interfaces") or ()
        if series.in_network_totals(str(i.get("name")))
    ]
    total = memory.get("total") or 0
    return {
        "agent_id": agent_id,
        "hostname": (snapshot.get("system") or {}).get("hostname"),
        "timestamp": snapshot.get("timestamp"),
        "cpu": cpu.get("totalUsage"),
        "memory": _pct(memory.get("used") or 0, total),  # as stored: series.py
        "disk": _pct(root.get("used") or 0, root.get("total") or 0),
        "rx": round(sum(i.get("rxRate") or 0 for i in interfaces), 1),
        "tx": round(sum(i.get("txRate") or 0 for i in interfaces), 1),
    }


def summary_frame(agent_id: str, snapshot: dict[str, Any]) -> bytes:
    return sse.frame("summary", orjson.dumps(summary(agent_id, snapshot)))


def status_frame(agent_id: str, status: str) -> bytes:
    return sse.frame("status", orjson.dumps({"agent_id": agent_id, "status": status}))
