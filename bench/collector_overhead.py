"""CPU seconds per minute and peak RSS of `fleetdeck server` collecting at 1 s with no client,
side by side in one run with Glances (polled at /api/4/all each second), prometheus-node-exporter
(scraped each second) and a naive psutil loop. Prints one JSON line.

Usage: python bench/collector_overhead.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import initialised_data_dir, measure_side_by_side, start_fleetdeck, start_peers, stop

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()

    procs: dict[str, subprocess.Popen[bytes]] = {}
    # Measured past its first start (which hashes the new admin password once).
    procs["fleetdeck"], _ = start_fleetdeck(refresh=1.0, data=initialised_data_dir())
    try:
        polled = start_peers(procs)
        procs["naive_psutil"] = subprocess.Popen(
            [sys.executable, str(HERE / "naive_collector.py"), "1"]
        )
        print(
            json.dumps(
                measure_side_by_side("collector_overhead", procs, polled, args.seconds, args.warmup)
            )
        )
    finally:
        for proc in procs.values():
            stop(proc)


if __name__ == "__main__":
    main()
