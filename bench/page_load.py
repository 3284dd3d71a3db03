"""The dashboard's overview in headless Chromium, with a fleet behind it.

Part 1, cold load with `--hosts` hosts (the server's own and simulated agents): first
contentful paint, the moment every host card on the first screen shows live figures, and bytes
over the wire. Each
load is a fresh browser context (empty cache) with the session cookie already set, as a user
arriving after login. Bytes are the transfer sizes (compressed, headers included) of the page
and every resource, the open SSE stream excepted.

Part 2, responsiveness with `--busy-hosts` hosts reporting every 5 s: the share of wall time the
page's main thread is busy (Chrome's TaskDuration over `--busy-seconds`) while the overview
updates.

The simulated agents are `fleetdeck bench agents` processes (real enrolment, one WebSocket
each), let in by a registration rule.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import httpx2
from playwright.sync_api import sync_playwright

from common import login, start_fleetdeck, stop

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const resources = performance.getEntriesByType("resource")
    .filter((r) => !r.name.includes("/api/v1/stream"));
  const bytes = nav.transferSize + resources.reduce((s, r) => s + r.transferSize, 0);
  return { fcp: fcp ? fcp.startTime : null, bytes, resources: resources.length };
}"""
# The first screenful: every host card in the viewport shows live figures (cards below it
# are drawn when scrolled to).
ALL_FIGURES = """(n) => {
  const cards = [...document.querySelectorAll('.host-card')];
  const onScreen = cards.filter((c) => c.getBoundingClientRect().top < innerHeight);
  return cards.length === n && onScreen.every(
    (c) => c.querySelector('[data-field=cpu]').textContent.endsWith('%'));
}"""


def start_agents(
    url: str, headers: dict[str, str], count: int, prefix: str
) -> subprocess.Popen[bytes]:
    token = httpx2.post(
        url + "/api/v1/agents/enrollment-tokens", json={"name": prefix}, headers=headers
    ).json()["token"]
    return subprocess.Popen(
        [sys.executable, "-m", "fleetdeck", "bench", "agents", "--server", url, "--token", token,
         "--count", str(count), "--interval", "5", "--duration", "3600", "--prefix", prefix,
         "--state-dir", tempfile.mkdtemp(prefix="fleetdeck-page-bench-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_online(url: str, headers: dict[str, str], hosts: int) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        listed = httpx2.get(url + "/api/v1/agents", headers=headers).json()["agents"]
        if sum(a["status"] == "online" for a in listed) >= hosts:
            time.sleep(6)  # every agent has reported at least once since
            return
        time.sleep(1)
    raise TimeoutError(f"{hosts} hosts did not come online")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--busy-hosts", type=int, default=500)
    parser.add_argument("--busy-seconds", type=float, default=30.0)
    args = parser.parse_args()
    proc, url = start_fleetdeck(
        refresh=5.0,
        extra_env={"FLEETDECK_API_RATE_LIMIT": "0", "FLEETDECK_ENROLL_RATE_LIMIT": "100000"},
    )
    fleets: list[subprocess.Popen[bytes]] = []
    result: dict[str, object] = {"bench": "page_load", "page": "/"}
    try:
        token = login(url)
        headers = {"Authorization": f"Bearer {token}"}
        httpx2.post(
            url + "/api/v1/registration-rules",
            json={"name": "bench", "hostname_pattern": "sim*"},
            headers=headers,
        ).raise_for_status()
        fleets.append(start_agents(url, headers, args.hosts - 1, "sima"))
        wait_online(url, headers, args.hosts)
        fcps, firsts, sizes = [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for _ in range(args.loads):
                context = browser.new_context()
                context.add_cookies([{"name": "fleetdeck_session", "value": token, "url": url}])
                page = context.new_page()
                page.goto(url + "/")
                page.wait_for_function(ALL_FIGURES, arg=args.hosts)
                first = page.evaluate("performance.now()")
                page.wait_for_function(
                    "performance.getEntriesByName('first-contentful-paint').length > 0"
                )
                measured = page.evaluate(MEASURE)
                fcps.append(measured["fcp"])
                firsts.append(first)
                sizes.append(measured["bytes"])
                context.close()
            result.update(
                hosts=args.hosts,
                loads=args.loads,
                fcp_ms_p50=round(statistics.median(fcps), 1),
                all_figures_ms_p50=round(statistics.median(firsts), 1),
                all_figures_ms_max=round(max(firsts), 1),
                bytes_transferred=int(statistics.median(sizes)),
            )

            if args.busy_hosts > args.hosts:
                fleets.append(start_agents(url, headers, args.busy_hosts - args.hosts, "simb"))
                wait_online(url, headers, args.busy_hosts)
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_cookies([{"name": "fleetdeck_session", "value": token, "url": url}])
                page = context.new_page()
                page.goto(url + "/")
                page.wait_for_function(ALL_FIGURES, arg=args.busy_hosts, timeout=60_000)
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")

                def task_seconds() -> float:
                    metrics = cdp.send("Performance.getMetrics")["metrics"]
                    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))

                time.sleep(3)
                busy0, wall0 = task_seconds(), time.monotonic()
                time.sleep(args.busy_seconds)
                busy1, wall1 = task_seconds(), time.monotonic()
                result.update(
                    busy_hosts=args.busy_hosts,
                    busy_seconds=args.busy_seconds,
                    main_thread_busy_pct=round(100 * (busy1 - busy0) / (wall1 - wall0), 1),
                )
                context.close()
            browser.close()
    finally:
        for fleet in fleets:
            fleet.kill()
        stop(proc)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
