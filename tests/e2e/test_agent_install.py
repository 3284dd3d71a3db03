"""A host installs the agent the way the docs say: the server's install script and wheel (with
its checksum), over HTTPS from `--tls auto` with the CA pinned by fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "agent-install-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "FLEETDECK_ADMIN_PASSWORD": PASSWORD,
        "FLEETDECK_API_RATE_LIMIT": "0",
        "FLEETDECK_TLS": "auto",
    }
    proc = ServerProcess(tmp_path_factory.mktemp("tls") / "data", env=env)
    proc.url = proc.url.replace("http://", "https://")
    yield proc
    if proc.proc.poll() is None:
        proc.stop()


def ca_fingerprint(server: ServerProcess) -> str:
    found = re.search(r"--ca-fingerprint (sha256:[0-9a-f]{64})", server.output())
    assert found, server.output()
    return found.group(1)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx2.Client]:
    ca = Path(re.search(r"HTTPS with the private CA (\S+);", server.output()).group(1))  # type: ignore[union-attr]
    trust = ssl.create_default_context(cafile=str(ca))
    with httpx2.Client(base_url=server.url, timeout=30, verify=trust) as c:
        login = c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        c.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield c


def test_plain_http_is_refused_and_the_ca_is_pinned(
    server: ServerProcess, client: httpx2.Client, tmp_path: Path
) -> None:
    with pytest.raises(httpx2.HTTPError):
        httpx2.get(server.url.replace("https://", "http://") + "/health", timeout=5)
    with pytest.raises(httpx2.HTTPError):  # not trusted by the system
        httpx2.get(server.url + "/health", timeout=5)
    created = client.post("/api/v1/agents/enrollment-tokens", json={}).json()
    assert f"--ca-fingerprint {ca_fingerprint(server)}" in created["install_command"]
    wrong = "sha256:" + "0" * 64
    done = subprocess.run(
        [sys.executable, "-m", "fleetdeck", "agent", "enroll", "--server", server.url,
         "--token", created["token"], "--state-dir", str(tmp_path / "s"),
         "--ca-fingerprint", wrong],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "someone in between" in done.stderr


def test_the_install_script_installs_enrols_and_the_agent_reports(
    server: ServerProcess, client: httpx2.Client, tmp_path: Path
) -> None:
    wheel = client.get("/download/fleetdeck-agent")
    assert wheel.status_code == 200
    assert wheel.headers["x-checksum-sha256"] == hashlib.sha256(wheel.content).hexdigest()
    (tmp_path / "w.whl").write_bytes(wheel.content)
    with zipfile.ZipFile(tmp_path / "w.whl") as archive:
        names = archive.namelist()
    assert "fleetdeck/agent/runner.py" in names and "fleetdeck/fleet/install.sh" in names
    assert not any("__pycache__" in n for n in names)

    # The venv the script will reuse (an existing --prefix is upgraded in place). It sees this
    # environment's dependencies through a .pth line, so pip needs no index here.
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True, timeout=120)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", purelib], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    # The installed agent must find its own copy of fleetdeck, not one on an inherited path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    token = client.post("/api/v1/agents/enrollment-tokens", json={"uses": 1}).json()["token"]
    script = httpx2.get(server.url + "/install.sh", verify=False, timeout=10)
    assert script.status_code == 200 and server.url in script.text
    state = tmp_path / "state"
    done = subprocess.run(
        ["sh", "-s", "--", "--token", token, "--ca-fingerprint", ca_fingerprint(server),
         "--prefix", str(prefix), "--state-dir", str(state), "--no-service",
         "--pip-args", "--no-deps --no-index"],
        input=script.text, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "start the agent with:" in done.stdout
    installed = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import fleetdeck; print(fleetdeck.__file__)"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    assert installed.startswith(site), installed  # the wheel's copy, not this checkout's
    assert (state / "ca.pem").exists()
    agent_id = json.loads((state / "agent.json").read_text())["agent_id"]
    client.post(f"/api/v1/agents/pending/{agent_id}/approve").raise_for_status()

    log = (tmp_path / "agent.log").open("w")
    agent = subprocess.Popen(
        [str(prefix / "bin" / "fleetdeck"), "agent", "run", "--state-dir", str(state)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while client.get(f"/api/v1/agents/{agent_id}").json()["status"] != "online":
            assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()
            time.sleep(0.3)
    finally:
        agent.kill()
        agent.wait(timeout=10)
        log.close()
