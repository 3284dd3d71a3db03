"""Sources that may be absent: systemd, Docker, NVIDIA GPUs."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from fleetdeck.collect.docker import DockerCollector
from fleetdeck.collect.gpu import GpuCollector
from fleetdeck.collect.systemd import parse_units


def test_systemctl_rows_become_services() -> None:
    output = (
        "nginx.service   loaded    active   running Web server\n"
        "ghost.service   not-found inactive dead    ghost.service\n"
        "backup.service  loaded    failed   failed  Nightly backup\n"
    )
    assert parse_units(output) == [
        {"name": "nginx.service", "state": "active", "subState": "running"},
        {"name": "backup.service", "state": "failed", "subState": "failed"},
    ]


def test_gpu_is_unavailable_without_a_driver() -> None:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        assert GpuCollector().collect() == {"available": False, "gpus": []}
    else:  # a machine with an NVIDIA driver: real readings
        pynvml.nvmlShutdown()
        gpus = GpuCollector().collect()
        assert gpus["available"] is True and gpus["gpus"]


def test_docker_is_unavailable_without_its_socket(tmp_path: Path) -> None:
    collector = DockerCollector(str(tmp_path / "docker.sock"))
    assert collector.collect() == {"available": False, "containers": []}


class _EngineHandler(BaseHTTPRequestHandler):
    """Answers the two Docker Engine API calls the collector makes, as the engine does."""

    usage = 0

    def do_GET(self) -> None:
        if self.path.startswith("/containers/json"):
            body = [
                {"Id": "a" * 64, "Names": ["/web"], "Image": "nginx", "State": "running"},
                {"Id": "b" * 64, "Names": ["/job"], "Image": "alpine", "State": "exited"},
            ]
        elif self.path.startswith("/containers/" + "a" * 64 + "/stats"):
            type(self).usage += 10**9
            body = {
                "cpu_stats": {
                    "cpu_usage": {"total_usage": type(self).usage},
                    "system_cpu_usage": type(self).usage * 4,
                    "online_cpus": 2,
                },
                "memory_stats": {"usage": 52_428_800},
            }
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def engine_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    server = Server(path, _EngineHandler)
    # http.server expects a (host, port) client address; UNIX sockets give a string.
    _EngineHandler.address_string = lambda self: "docker-client"  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_docker_containers_with_cpu_and_memory(engine_socket: str) -> None:
    collector = DockerCollector(engine_socket)
    collector.collect()
    result = collector.collect()
    assert result["available"] is True
    web, job = result["containers"]  # type: ignore[misc]
    assert web == {
        "id": "a" * 12, "name": "web", "image": "nginx", "status": "running",
        "cpu": 50.0, "memory": 52_428_800,
    }  # fmt: skip
    assert job["status"] == "exited" and job["cpu"] == 0.0
