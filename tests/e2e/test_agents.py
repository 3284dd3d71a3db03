"""Enrolment as an operator does it: a token from the API, `fleetdeck agent enroll` on the host
(a real subprocess over a real socket), approval, revocation."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "agents-admin-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"FLEETDECK_ADMIN_PASSWORD": PASSWORD, "FLEETDECK_LOGIN_RATE_LIMIT": "100"}
    proc = ServerProcess(tmp_path_factory.mktemp("agents") / "data", env=env)
    yield proc
    if proc.proc.poll() is None:
        proc.stop()
    proc.log.close()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> dict[str, str]:
    reply = httpx2.post(
        server.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def agent(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetdeck", "agent", *args, "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def token(server: ServerProcess, admin: dict[str, str], **body: object) -> dict[str, str]:
    reply = httpx2.post(server.url + "/api/v1/agents/enrollment-tokens", json=body, headers=admin)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def test_enrol_wait_approve_then_revoke(
    server: ServerProcess, admin: dict[str, str], tmp_path: Path
) -> None:
    created = token(server, admin, name="lab", uses=1)
    assert created["install_command"] == (
        f"curl -fsSL {server.url}/install.sh | sh -s -- --token {created['token']}"
    )
    assert created["enroll_command"].startswith(f"fleetdeck agent enroll --server {server.url}")
    state_dir = tmp_path / "state"
    done = agent("enroll", "--server", server.url, "--token", created["token"],
                 "--name", "lab-box", state_dir=state_dir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(pending)" in done.stdout
    with httpx2.Client(base_url=server.url) as browser:
        browser.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert "<small>lab-box</small>" in browser.get("/agents").text  # the name it asked for
    key = state_dir / "agent.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    saved = json.loads((state_dir / "agent.json").read_text())
    pending = httpx2.get(server.url + "/api/v1/agents/pending", headers=admin).json()["agents"]
    (entry,) = [a for a in pending if a["id"] == saved["agent_id"]]
    assert entry["status"] == "pending" and entry["fingerprint"] == saved["fingerprint"]
    assert entry["os"] == "linux" and entry["architecture"]
    # The token had one use; a second host is refused.
    other = agent("enroll", "--server", server.url, "--token", created["token"],
                  state_dir=tmp_path / "other")  # fmt: skip
    assert other.returncode == 1 and "used up" in other.stderr
    approved = httpx2.post(
        server.url + f"/api/v1/agents/pending/{saved['agent_id']}/approve", headers=admin
    )
    assert approved.json()["status"] == "offline"  # approved; it has not connected yet
    history = httpx2.get(
        server.url + f"/api/v1/history?agent_id={saved['agent_id']}&range=5m", headers=admin
    )
    assert history.status_code == 200 and history.json()["data"] == []  # known, nothing yet
    with httpx2.Client(base_url=server.url) as browser:
        browser.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        host_page = browser.get(f"/hosts/{saved['agent_id']}")
    assert "offline: it has not connected yet" in host_page.text  # not "connecting…" forever
    listed = httpx2.get(server.url + "/api/v1/agents", headers=admin).json()["agents"]
    assert [a["id"] for a in listed][:1] == ["local"]
    assert saved["agent_id"] in [a["id"] for a in listed]
    revoked = httpx2.post(server.url + f"/api/v1/agents/{saved['agent_id']}/revoke", headers=admin)
    assert revoked.json()["status"] == "revoked"
    again = agent("enroll", "--server", server.url,
                  "--token", token(server, admin)["token"], state_dir=state_dir)  # fmt: skip
    assert again.returncode == 1 and "revoked" in again.stderr


def test_a_preregistered_host_is_approved_when_it_enrols(
    server: ServerProcess, admin: dict[str, str], tmp_path: Path
) -> None:
    import socket

    from fleetdeck.fleet.enrolment import slug

    expected = slug(socket.gethostname())
    httpx2.delete(server.url + f"/api/v1/agents/{expected}", headers=admin)
    made = httpx2.post(
        server.url + "/api/v1/agents", json={"id": expected, "name": "Known box"}, headers=admin
    )
    assert made.status_code == 201 and made.json()["status"] == "expected"
    done = agent("enroll", "--server", server.url, "--token", token(server, admin)["token"],
                 state_dir=tmp_path / "s")  # fmt: skip
    assert done.returncode == 0 and f"enrolled as {expected} (approved)" in done.stdout
    bad = httpx2.post(
        server.url + "/api/v1/agents/enroll",
        json={"token": "fde_nope", "hostname": "x", "public_key": "A" * 44},
    )
    assert bad.status_code in (400, 401) and bad.json()["code"] in (
        "INVALID_KEY",
        "INVALID_ENROLLMENT_TOKEN",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "fleetdeck", "agent", "--help"],
        ["-c", "import fleetdeck.agent.runner, fleetdeck.agent.enroll, fleetdeck.cli"],
    ],
)
def test_the_agent_does_not_import_the_server(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command], capture_output=True, text=True, timeout=60
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert done.returncode == 0, done.stderr
    assert "fleetdeck" in imported and "psutil" in imported or "--help" in command
    assert not imported & {"fastapi", "sqlalchemy", "uvicorn", "starlette", "alembic"}


def loaded(proc: subprocess.Popen[bytes], package: str) -> bool:
    """Whether a running process has a package's compiled library mapped (it imported it)."""
    return f"/{package}/" in Path(f"/proc/{proc.pid}/maps").read_text()


def test_cryptography_is_loaded_with_the_first_agent_not_at_start(tmp_path: Path) -> None:
    """A server watching only its own host never maps cryptography (~10 MB resident); the first
    agent's enrolment brings it in."""
    proc = ServerProcess(tmp_path / "data", env={"FLEETDECK_ADMIN_PASSWORD": PASSWORD})
    try:
        reply = httpx2.post(
            proc.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {reply.json()['token']}"}
        assert httpx2.get(proc.url + "/api/v1/history?range=5m", headers=headers).is_success
        assert not loaded(proc.proc, "cryptography")
        created = token(proc, headers, name="first")
        done = agent("enroll", "--server", proc.url, "--token", created["token"],
                     state_dir=tmp_path / "state")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert loaded(proc.proc, "cryptography")
    finally:
        proc.stop()
