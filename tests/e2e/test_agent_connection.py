"""A real agent subprocess and a real server over real sockets: wait for approval, report,
take remote config, answer heartbeats, rotate its key, survive a server restart without a gap
in history, go offline (and fire a `host.online` alert), come back, and stop when revoked."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.agents import Agent, enrol
from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "agent-link-password"
ENV = {"FLEETDECK_ADMIN_PASSWORD": PASSWORD, "FLEETDECK_API_RATE_LIMIT": "0"}


def eventually(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.2)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {"servers": [], "agents": [], "clients": []}
    yield made
    for client in made["clients"]:
        client.close()
    for agent in made["agents"]:
        agent.stop()
    for server in made["servers"]:
        if server.proc.poll() is None:
            server.stop()


def test_an_agent_lives_through_its_whole_life(tmp_path: Path, fleet: dict[str, Any]) -> None:
    server = ServerProcess(tmp_path / "data", env=ENV)
    fleet["servers"].append(server)
    client = httpx2.Client(base_url=server.url, timeout=20)
    fleet["clients"].append(client)
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    token = client.post("/api/v1/agents/enrollment-tokens", json={"name": "t"}).json()["token"]
    state_dir = tmp_path / "agent"
    agent_id = enrol(server.url, token, state_dir)

    # It waits on its socket for approval, then reports at once.
    agent = Agent(state_dir)
    fleet["agents"].append(agent)
    eventually(lambda: "waiting for an administrator" in agent.output(), what="pending")
    assert client.post(f"/api/v1/agents/pending/{agent_id}/approve").status_code == 200
    eventually(lambda: client.get(f"/api/v1/agents/{agent_id}").json()["status"] == "online")

    # Remote config: the server pushes a 1 s interval; reports land in history.
    patched = client.patch(f"/api/v1/agents/{agent_id}/config", json={"interval": 1})
    assert patched.status_code == 200 and patched.json()["interval"] == 1
    eventually(lambda: "every 1.0s" in agent.output(), what="config pushed")
    bad = client.patch(f"/api/v1/agents/{agent_id}/config", json={"collectors": ["nope"]})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_COLLECTOR"

    def points() -> list[int]:
        reply = client.get(
            "/api/v1/history",
            params={"agent_id": agent_id, "range": "5m", "resolution": "raw", "metrics": "cpu"},
        )
        assert reply.status_code == 200, reply.text
        stamps = [x["timestamp"] for x in reply.json()["data"]]
        return [int(time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))) for s in stamps]

    eventually(lambda: len(points()) >= 4, what="reports in history")

    # Live stream of that host, and the current snapshot export.
    with client.stream("GET", "/api/v1/stream", params={"agent_id": agent_id}) as live:
        first = next(line for line in live.iter_lines() if line.startswith("data:"))
    assert json.loads(first[5:])["system"]["hostname"]
    # While watched the agent reported every second with processes; now it is back to normal.
    eventually(lambda: "live: every 1.0s" in agent.output() and "live: off" in agent.output())
    current = client.get("/api/v1/export/metrics", params={"agent_id": agent_id})
    assert current.status_code == 200 and "cpu" in current.json()
    signal_remote = client.post("/api/v1/processes/1/signal", params={"agent_id": agent_id},
                                json={"signal": "TERM"})  # fmt: skip
    assert signal_remote.status_code == 409  # this agent runs without --allow-commands
    assert signal_remote.json()["code"] == "COMMANDS_DISABLED"
    assert "--allow-commands" in signal_remote.json()["error"]

    beat = client.post(f"/api/v1/agents/{agent_id}/heartbeat").json()
    assert beat["reachable"] is True and beat["latency_ms"] < 1000
    assert beat["properties"]["os"] == "linux"

    # Rotation: the agent signs a new key with the old one and switches to it.
    before = client.get(f"/api/v1/agents/{agent_id}").json()["fingerprint"]
    rotated = client.post(f"/api/v1/agents/{agent_id}/rotate")
    assert rotated.status_code == 200, rotated.text
    after = rotated.json()["fingerprint"]
    assert after != before
    eventually(lambda: json.loads((state_dir / "agent.json").read_text())["fingerprint"] == after)

    # The server restarts; the agent buffers, reconnects, and history has no hole.
    server.stop()
    time.sleep(3)
    server = ServerProcess(tmp_path / "data", env=ENV, port=server.port)
    fleet["servers"].append(server)
    restarted = time.time()
    eventually(lambda: points() and points()[-1] > restarted + 1, what="reports after restart")
    recent = [p for p in points() if p > restarted - 20]
    gaps = [b - a for a, b in zip(recent, recent[1:], strict=False)]
    assert max(gaps) <= 2, gaps  # the reports taken while the server was down arrived

    # Offline after three missed intervals, with the host.online alert firing.
    rule = {"name": "Host down", "metric": "host.online", "comparison": "<", "critical": 1}
    assert client.post("/api/v1/alerts/rules", json=rule).status_code == 201
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=10)
    eventually(lambda: client.get(f"/api/v1/agents/{agent_id}").json()["status"] == "offline")
    firing = client.get("/api/v1/alerts").json()["alerts"]
    assert any(a["agent_id"] == agent_id and a["rule_id"] == "host-down" for a in firing), firing

    # Back again, now allowing commands on its side: the server may act on its processes once
    # an administrator enables them too.
    agent = Agent(state_dir, "--allow-commands")
    fleet["agents"].append(agent)
    eventually(lambda: client.get(f"/api/v1/agents/{agent_id}").json()["status"] == "online")
    victim = subprocess.Popen(["sleep", "300"])
    try:
        url, on_agent = f"/api/v1/processes/{victim.pid}", {"agent_id": agent_id}
        assert client.get(url, params=on_agent).json()["code"] == "COMMANDS_DISABLED"
        enable = client.patch(f"/api/v1/agents/{agent_id}/config", json={"commandsEnabled": True})
        assert enable.status_code == 200 and enable.json()["commandsEnabled"] is True
        details = eventually(lambda: client.get(url, params=on_agent), what="commands enabled")
        assert details.status_code == 200 and details.json()["name"] == "sleep", details.text
        protected = client.post("/api/v1/processes/1/signal", params=on_agent, json={"signal": 15})
        assert protected.status_code == 403 and protected.json()["code"] == "PROCESS_PROTECTED"
        sent = client.post(f"{url}/signal", params=on_agent, json={"signal": "TERM"})
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"pid": victim.pid, "signal": 15, "name": "sleep", "sent": True}
        assert victim.wait(timeout=10) == -signal.SIGTERM
        gone = client.get(url, params=on_agent)
        assert gone.status_code == 404 and gone.json()["code"] == "PROCESS_NOT_FOUND"
        audit = client.get("/api/v1/audit", params={"action": "process.signal"}).json()
        assert f"process:{agent_id}:{victim.pid}" in {e["resource"] for e in audit["events"]}
    finally:
        victim.kill()
        victim.wait()

    # Revoked: the socket closes and the agent stops with status 3.
    assert client.post(f"/api/v1/agents/{agent_id}/revoke").status_code == 200
    assert agent.proc.wait(timeout=5) == 3, agent.output()
    assert "refused this agent: revoked" in agent.output()
    assert client.post(f"/api/v1/agents/{agent_id}/heartbeat").json()["reachable"] is False
