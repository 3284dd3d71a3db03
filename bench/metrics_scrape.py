"""What a Prometheus scrape of `GET /metrics` costs the server for a fleet of N hosts.

Every host carries a real snapshot of this machine (its disks, interfaces and sensors), plus
`--containers` running Docker containers each, as the hub holds them. Times what the handler
does off the event loop (prometheus-client writing out every host's series) and reports the
reply's size. Prints one JSON line.

Usage: python bench/metrics_scrape.py [--hosts 1000] [--containers 5] [--scrapes 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from prometheus_client import CollectorRegistry, generate_latest

from fleetdeck.api.prometheus import _Fleet
from fleetdeck.collect.host import HostCollector, default_collectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=5)
    parser.add_argument("--scrapes", type=int, default=10)
    args = parser.parse_args()
    snapshot = HostCollector(default_collectors()).snapshot(watched=True)
    snapshot["docker"] = {
        "available": True,
        "containers": [
            {"name": f"app-{i}", "status": "running", "cpu": 12.5, "memory": 300_000_000}
            for i in range(args.containers)
        ],
    }
    hosts = [(f"host-{i:04d}", True, snapshot) for i in range(args.hosts)]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fleet(hosts))
    times, body = [], b""
    for _ in range(args.scrapes):
        began = time.perf_counter()
        body = generate_latest(registry)
        times.append((time.perf_counter() - began) * 1000)
    print(
        json.dumps(
            {
                "bench": "metrics_scrape",
                "hosts": args.hosts,
                "series_per_host": body.count(b"\n") // max(args.hosts, 1),
                "scrapes": args.scrapes,
                "p50_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "reply_mb": round(len(body) / 1e6, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
