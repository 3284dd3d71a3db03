"""CPU seconds per minute and peak RSS of `fleetdeck server` collecting at 1 s with no client,
side by side in one run with Glances (polled at /api/4/all each second), prometheus-node-exporter
(scraped each second) and a naive psutil loop. Prints one JSON line.

Usage: python bench/collector_overhead.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2

from common import (
    cpu_seconds,
    free_port,
    initialised_data_dir,
    peak_rss_mb,
    rss_mb,
    start_fleetdeck,
    stop,
    wait_http,
)

HERE = Path(__file__).resolve().parent


def _poller(url: str, stop_event: threading.Event) -> None:
    with httpx2.Client(timeout=5.0) as client:
        while not stop_event.wait(1.0):
            try:
                client.get(url)
            except httpx2.HTTPError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()

    procs: dict[str, subprocess.Popen[bytes]] = {}
    polled: dict[str, str] = {}
    # Measured past its first start (which hashes the new admin password once).
    procs["fleetdeck"], _ = start_fleetdeck(refresh=1.0, data=initialised_data_dir())

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
    procs["naive_psutil"] = subprocess.Popen(
        [sys.executable, str(HERE / "naive_collector.py"), "1"]
    )

    stop_event = threading.Event()
    try:
        for url in polled.values():
            wait_http(url)
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
            "bench": "collector_overhead",
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


if __name__ == "__main__":
    main()
