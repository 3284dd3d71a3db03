"""CPU seconds per minute and peak RSS of `fleetdeck agent run` reporting every second, side by
side in one run with Glances (polled at /api/4/all each second) and prometheus-node-exporter
(scraped each second) doing the same job. The agent is enrolled, approved and set to a 1 s
interval through the server's API first; the server's own cost is not counted. Prints one JSON
line.

Usage: python bench/agent_overhead.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2

from common import (
    cpu_seconds,
    free_port,
    login,
    peak_rss_mb,
    rss_mb,
    start_fleetdeck,
    stop,
    wait_http,
)


def _poller(url: str, stop_event: threading.Event) -> None:
    with httpx2.Client(timeout=5.0) as client:
        while not stop_event.wait(1.0):
            try:
                client.get(url)
            except httpx2.HTTPError:
                pass


def start_agent(url: str) -> subprocess.Popen[bytes]:
    """Enrol a real agent, approve it, set its interval to 1 s, and start `agent run`."""
    headers = {"Authorization": f"Bearer {login(url)}"}
    token = httpx2.post(url + "/api/v1/agents/enrollment-tokens", json={}, headers=headers)
    state = Path(tempfile.mkdtemp(prefix="fleetdeck-agent-bench-"))
    subprocess.run(
        [sys.executable, "-m", "fleetdeck", "agent", "enroll", "--server", url,
         "--token", token.json()["token"], "--state-dir", str(state)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    agent_id = json.loads((state / "agent.json").read_text())["agent_id"]
    httpx2.post(url + f"/api/v1/agents/pending/{agent_id}/approve", headers=headers)
    httpx2.patch(
        url + f"/api/v1/agents/{agent_id}/config", json={"interval": 1}, headers=headers
    ).raise_for_status()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetdeck", "agent", "run", "--state-dir", str(state),
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while (
        httpx2.get(url + f"/api/v1/agents/{agent_id}", headers=headers).json()["status"] != "online"
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("the agent did not come online")
        time.sleep(0.2)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()

    server, url = start_fleetdeck(refresh=5.0)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    polled: dict[str, str] = {}
    stop_event = threading.Event()
    try:
        procs["fleetdeck_agent"] = start_agent(url)
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
        for poll_url in polled.values():
            wait_http(poll_url)
        pollers = [
            threading.Thread(target=_poller, args=(u, stop_event), daemon=True)
            for u in polled.values()
        ]
        for t in pollers:
            t.start()
        time.sleep(args.warmup)
        before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        time.sleep(args.seconds)
        after = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        result: dict[str, object] = {
            "bench": "agent_overhead",
            "seconds": args.seconds,
            "interval_s": 1.0,
            "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
        }
        for name, proc in procs.items():
            per_minute = (after[name] - before[name]) * 60.0 / args.seconds
            result[name] = {
                "cpu_s_per_min": round(per_minute, 3),
                "peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
                "rss_mb_at_end": round(rss_mb(proc.pid), 1),
            }
        missing = [n for n in ("glances", "node_exporter") if n not in procs]
        if missing:
            result["missing_peers"] = missing
        print(json.dumps(result))
    finally:
        stop_event.set()
        for proc in procs.values():
            stop(proc)
        stop(server)


if __name__ == "__main__":
    main()
