"""Process details and signals against real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fleetdeck.store import audit
from tests.conftest import Api


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def test_details_have_the_tyto_fields(api: Api, child: subprocess.Popen[bytes]) -> None:
    reply = api.client.get(f"/api/v1/processes/{child.pid}", headers=api.as_("charlie"))
    assert reply.status_code == 200
    body = reply.json()
    assert body["pid"] == child.pid and "time.sleep(600)" in body["cmdline"]
    for field in ("name", "user", "state", "cpu", "memory", "threads", "startTime"):
        assert field in body
    assert body["startTime"].endswith("Z") and body["memory"] > 0 and body["threads"] >= 1


def test_sigterm_ends_the_process(api: Api, child: subprocess.Popen[bytes]) -> None:
    reply = api.client.post(
        f"/api/v1/processes/{child.pid}/signal", json={"signal": 15}, headers=api.as_("bob")
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "pid": child.pid,
        "signal": 15,
        "name": reply.json()["name"],
        "sent": True,
    }
    assert child.wait(timeout=10) == -15


def test_signal_names_are_accepted(api: Api, child: subprocess.Popen[bytes]) -> None:
    headers = api.as_("bob")
    stop = api.client.post(
        f"/api/v1/processes/{child.pid}/signal", json={"signal": "SIGSTOP"}, headers=headers
    )
    assert stop.status_code == 200 and stop.json()["signal"] == 19
    state = api.client.get(f"/api/v1/processes/{child.pid}", headers=headers).json()["state"]
    assert state == "stopped"
    cont = api.client.post(
        f"/api/v1/processes/{child.pid}/signal", json={"signal": "cont"}, headers=headers
    )
    assert cont.status_code == 200 and cont.json()["signal"] == 18


def test_signals_outside_the_documented_set_are_400(
    api: Api, child: subprocess.Popen[bytes]
) -> None:
    headers = api.as_("bob")
    for bad in (11, 0, 64, "SIGSEGV", "nonsense"):
        reply = api.client.post(
            f"/api/v1/processes/{child.pid}/signal", json={"signal": bad}, headers=headers
        )
        assert reply.status_code == 400 and reply.json()["code"] == "INVALID_SIGNAL", bad
    assert child.poll() is None


@pytest.mark.parametrize("pid", [1, os.getpid()])
def test_protected_processes_are_403(api: Api, pid: int) -> None:
    reply = api.client.post(
        f"/api/v1/processes/{pid}/signal", json={"signal": 15}, headers=api.as_("alice")
    )
    assert reply.status_code == 403 and reply.json()["code"] == "PROCESS_PROTECTED"


def test_unknown_pid_is_404(api: Api) -> None:
    headers = api.as_("alice")
    pid = 4_000_000  # above any pid_max Linux allows by default
    assert api.client.get(f"/api/v1/processes/{pid}", headers=headers).status_code == 404
    reply = api.client.post(f"/api/v1/processes/{pid}/signal", json={"signal": 15}, headers=headers)
    assert reply.status_code == 404 and reply.json()["code"] == "PROCESS_NOT_FOUND"


def test_viewer_may_look_but_not_signal(api: Api, child: subprocess.Popen[bytes]) -> None:
    reply = api.client.post(
        f"/api/v1/processes/{child.pid}/signal", json={"signal": 9}, headers=api.as_("charlie")
    )
    assert reply.status_code == 403 and reply.json()["details"] == {
        "permission": "processes:signal",
        "agent_id": "local",
    }
    assert child.poll() is None


def test_other_agents_are_404_until_agents_exist(api: Api, child: subprocess.Popen[bytes]) -> None:
    reply = api.client.get(
        f"/api/v1/processes/{child.pid}?agent_id=web-1", headers=api.as_("alice")
    )
    assert reply.status_code == 404 and reply.json()["code"] == "AGENT_NOT_FOUND"


def test_signals_are_audited_with_outcome(api: Api, child: subprocess.Popen[bytes]) -> None:
    headers = api.as_("bob")
    api.client.post(f"/api/v1/processes/{child.pid}/signal", json={"signal": 15}, headers=headers)
    api.client.post("/api/v1/processes/1/signal", json={"signal": 15}, headers=headers)
    events = [e for e in api.client.portal.call(_recent, api) if e["action"] == "process.signal"]
    outcomes = {(e["resource"], e["success"]) for e in events}
    assert (f"process:local:{child.pid}", True) in outcomes
    assert ("process:local:1", False) in outcomes


async def _recent(api: Api) -> list[dict[str, object]]:
    async with api.app_state.db.read() as conn:
        return await audit.recent(conn)
