"""Helpers for the benchmarks: process CPU and memory from /proc, ports, the fleetdeck server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_PASSWORD = "bench-admin-password"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1.0)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def start_fleetdeck(
    refresh: float, extra_env: dict[str, str] | None = None, data: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A fleetdeck server (on a fresh data dir unless given); returns the process and base URL."""
    port = free_port()
    data = data or tempfile.mkdtemp(prefix="fleetdeck-bench-")
    env = {
        **os.environ,
        "FLEETDECK_ADMIN_PASSWORD": BENCH_PASSWORD,
        "FLEETDECK_LOG_LEVEL": "warning",
    }
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetdeck", "server", "--port", str(port), "--data-dir", data,
         "--refresh-interval", str(refresh)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health")
    return proc, url


def initialised_data_dir() -> str:
    """A data dir past its first start, so a measured run is a server's ordinary day."""
    data = tempfile.mkdtemp(prefix="fleetdeck-bench-")
    proc, _ = start_fleetdeck(refresh=5.0, data=data)
    stop(proc)
    return data


def login(url: str) -> str:
    reply = httpx2.post(
        url + "/api/v1/auth/login", json={"username": "admin", "password": BENCH_PASSWORD}
    )
    reply.raise_for_status()
    return str(reply.json()["token"])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
