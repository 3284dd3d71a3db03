"""One server holding many agents: `--agents` simulated agents (real enrolment, real WebSockets,
real-sized reports; fleetdeck.agent.simulate, as `fleetdeck bench agents` runs them) report
every `--interval` seconds for `--seconds`. Measured on the server process while all agents are
connected: CPU % of one core, RSS; from the agents: ingest lag (report timestamp to the
server's acknowledgement, sent once the report is stored and queryable) and dropped reports;
from the server (`GET /api/v1/fleet/stats`): the same lag measured where the report is stored,
which leaves out the simulator's own delays (1,000 agents in one Python process saturate it
while they connect).
Afterwards one history query per sampled agent checks the reports are really there.
Prints one JSON line.

Usage: python bench/fleet.py [--agents 1000] [--interval 5] [--seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx2

from common import cpu_seconds, login, peak_rss_mb, rss_mb, start_fleetdeck, stop
from fleetdeck.agent import simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()

    server, url = start_fleetdeck(
        refresh=5.0,
        extra_env={"FLEETDECK_API_RATE_LIMIT": "0", "FLEETDECK_ENROLL_RATE_LIMIT": "100000"},
    )
    try:
        headers = {"Authorization": f"Bearer {login(url)}"}
        httpx2.post(
            url + "/api/v1/registration-rules",
            json={"name": "bench", "hostname_pattern": "bench-*"},
            headers=headers,
        ).raise_for_status()
        token = httpx2.post(
            url + "/api/v1/agents/enrollment-tokens", json={"name": "bench"}, headers=headers
        ).json()["token"]

        window: dict[str, float] = {}

        def progress(stage: str, totals: simulate.Totals) -> None:
            if stage == "running" and totals.connected == args.agents and "start" not in window:
                window["start"], window["cpu0"] = time.monotonic(), cpu_seconds(server.pid)
            if stage == "running" and "start" in window:
                window["end"], window["cpu1"] = time.monotonic(), cpu_seconds(server.pid)
                window["rss"] = max(window.get("rss", 0.0), rss_mb(server.pid))

        state = Path(tempfile.mkdtemp(prefix="fleetdeck-fleet-bench-"))
        figures = asyncio.run(
            simulate.run(
                url, token, args.agents, args.interval, args.seconds, state, progress=progress
            )  # fmt: skip
        )
        server_side = httpx2.get(url + "/api/v1/fleet/stats", headers=headers).json()
        measured = window.get("end", 0.0) - window.get("start", 0.0)
        cpu = (window.get("cpu1", 0.0) - window.get("cpu0", 0.0)) / measured if measured else None
        stored = 0
        for i in range(0, args.agents, max(1, args.agents // 20)):
            reply = httpx2.get(
                url + "/api/v1/history",
                params={
                    "agent_id": f"bench-{i:04d}",
                    "range": "15m",
                    "resolution": "raw",
                    "metrics": "cpu",
                },  # fmt: skip
                headers=headers,
            )
            stored += len(reply.json().get("data", []))
        print(
            json.dumps(
                {
                    "bench": "fleet",
                    "agents": args.agents,
                    "interval_s": args.interval,
                    "seconds": args.seconds,
                    "cores": len(os.sched_getaffinity(0)),
                    "measured_s": round(measured, 1),
                    "server_cpu_percent_of_one_core": None if cpu is None else round(cpu * 100, 1),
                    "server_rss_mb": round(window.get("rss", 0.0), 1),
                    "server_peak_rss_mb": round(peak_rss_mb(server.pid), 1),
                    "reports_per_s": round(figures["reports_acked"] / args.seconds, 1),
                    "history_points_on_sampled_agents": stored,
                    "server_lag_ms": server_side["lag_ms"],
                    "server_first_report_lag_ms": server_side["first_report_lag_ms"],
                    **{k: v for k, v in figures.items() if k not in ("agents", "interval_s")},
                }  # fmt: skip
            )
        )
    finally:
        stop(server)


if __name__ == "__main__":
    main()
