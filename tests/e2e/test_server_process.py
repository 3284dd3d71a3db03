"""The real `fleetdeck server` as a user runs it: a subprocess on a free port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from fleetdeck.collect.host import SECTIONS
from tests.servers import free_port, wait_for_port

pytestmark = pytest.mark.e2e


class ServerProcess:
    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleetdeck", "server", "--port", str(self.port),
             "--data-dir", str(data_dir), "--refresh-interval", "1"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        """SIGTERM, as systemd sends; uvicorn shuts down cleanly, then re-raises the signal."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.log.close()
        assert code in (0, -signal.SIGTERM), self.output()
        assert "Application shutdown complete" in self.output(), self.output()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir)
    yield proc
    if proc.proc.poll() is None:
        proc.stop()
    proc.log.close()


def _first_password(server: ServerProcess) -> str:
    match = re.search(r"created user 'admin' with password\s+(\S+)", server.output())
    assert match, server.output()
    return match.group(1)


def _login(client: httpx2.Client, password: str) -> dict[str, object]:
    reply = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _read_events(client: httpx2.Client, token: str, count: int) -> list[dict[str, object]]:
    events = []
    headers = {"Authorization": f"Bearer {token}"}
    with client.stream("GET", "/api/v1/stream", headers=headers, timeout=30) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in reply.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "metrics":
                events.append(json.loads(line[6:]))
                if len(events) == count:
                    break
    return events


def test_first_start_login_stream_and_signal(server: ServerProcess, data_dir: Path) -> None:
    password = _first_password(server)
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/health").json()["status"] == "ok"
        login = _login(client, password)
        assert login["must_change_password"] is True
        token = str(login["token"])
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/stream", headers=headers).status_code == 403
        changed = client.put(
            "/api/v1/auth/me/password",
            json={"current_password": password, "new_password": "e2e-new-password"},
            headers=headers,
        )
        assert changed.status_code == 204

        first, second = _read_events(client, token, 2)
        for snap in (first, second):
            assert list(snap) == ["timestamp", *SECTIONS]
        assert second["timestamp"] >= first["timestamp"]

        victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            reply = client.post(
                f"/api/v1/processes/{victim.pid}/signal", json={"signal": 9}, headers=headers
            )
            assert reply.status_code == 200, reply.text
            assert victim.wait(timeout=10) == -9
        finally:
            victim.kill()
            victim.wait()

        client.post("/api/v1/settings/refresh", json={"interval": 7}, headers=headers)
    server.stop()

    again = ServerProcess(data_dir)
    try:
        assert "created user 'admin'" not in again.output()
        with httpx2.Client(base_url=again.url, timeout=10) as client:
            token = str(_login(client, "e2e-new-password")["token"])
            headers = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 7}
            assert _read_events(client, token, 1)[0]["cpu"]
    finally:
        again.stop()


def test_stop_is_prompt_with_a_stream_open(server: ServerProcess) -> None:
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        client.put(
            "/api/v1/auth/me/password",
            json={"current_password": _first_password(server), "new_password": "e2e-new-password"},
            headers={"Authorization": f"Bearer {_login(client, _first_password(server))['token']}"},
        )
        token = str(_login(client, "e2e-new-password")["token"])
        with client.stream(
            "GET", "/api/v1/stream", headers={"Authorization": f"Bearer {token}"}
        ) as reply:
            next(reply.iter_lines())
            server.stop()  # returns once the process has exited cleanly, stream still open
