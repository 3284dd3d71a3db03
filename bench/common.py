"""Helpers for the benchmarks: process CPU and memory from /proc, ports, the fleetdeck server."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
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


def _poller(url: str, stop_event: threading.Event) -> None:
    with httpx2.Client(timeout=5.0) as client:
        while not stop_event.wait(1.0):
            try:
                client.get(url)
            except httpx2.HTTPError:
                pass


def start_peers(procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, str]:
    """Glances and prometheus-node-exporter where installed, each doing the job at 1 s; adds
    them to `procs` and returns the URL to poll each second for each."""
    polled: dict[str, str] = {}
    glances = shutil.which("glances") or str(Path(sys.executable).parent / "glances")
    if Path(glances).exists():
        port = free_port()
        procs["glances"] = subprocess.Popen(
            [glances, "-w", "--disable-webui", "-t", "1", "-B", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        polled["glances"] = f"http://127.0.0.1:{port}/api/4/all"
    exporter = shutil.which("prometheus-node-exporter")
    if exporter:
        port = free_port()
        procs["node_exporter"] = subprocess.Popen(
            [exporter, f"--web.listen-address=127.0.0.1:{port}", "--no-collector.systemd"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        polled["node_exporter"] = f"http://127.0.0.1:{port}/metrics"
    return polled


def measure_side_by_side(
    bench: str, procs: dict[str, subprocess.Popen[bytes]], polled: dict[str, str],
    seconds: float, warmup: float,
) -> dict[str, object]:  # fmt: skip
    """CPU seconds per minute and RSS of each process over `seconds`, while the peers'
    URLs are polled each second, after `warmup`; the JSON line's fields."""
    stop_event = threading.Event()
    try:
        for url in polled.values():
            wait_http(url)
        for url in polled.values():
            threading.Thread(target=_poller, args=(url, stop_event), daemon=True).start()
        time.sleep(warmup)
        before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        time.sleep(seconds)
        after = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    finally:
        stop_event.set()
    result: dict[str, object] = {
        "bench": bench,
        "seconds": seconds,
        "interval_s": 1.0,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
    }
    for name, proc in procs.items():
        per_minute = (after[name] - before[name]) * 60.0 / seconds
        result[name] = {
            "cpu_s_per_min": round(per_minute, 3),
            "peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
            "rss_mb_at_end": round(rss_mb(proc.pid), 1),
        }
    missing = [n for n in ("glances", "node_exporter") if n not in procs]
    if missing:
        result["missing_peers"] = missing
    return result
