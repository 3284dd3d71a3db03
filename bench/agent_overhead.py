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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from common import login, measure_side_by_side, start_fleetdeck, start_peers, stop


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
    try:
        procs["fleetdeck_agent"] = start_agent(url)
        polled = start_peers(procs)
        print(
            json.dumps(
                measure_side_by_side("agent_overhead", procs, polled, args.seconds, args.warmup)
            )
        )
    finally:
        for proc in procs.values():
            stop(proc)
        stop(server)


if __name__ == "__main__":
    main()
