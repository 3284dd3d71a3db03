"""Cold load of the dashboard's overview in headless Chromium: first contentful paint, first
live figures on screen, and bytes over the wire.

Each load is a fresh browser context (empty cache) with the session cookie already set, as a
user arriving after login. "First figures" is when the host card shows numbers from the live
stream. Bytes are the transfer sizes (compressed, headers included) of the page and every
resource, the open SSE stream excepted.

Until agents exist the overview has one host, the server's own; the issue's 50-host figure
waits for them.
"""

from __future__ import annotations

import argparse
import json
import statistics

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()
    proc, url = start_fleetdeck(refresh=1.0)
    try:
        token = login(url)
        fcps, firsts, sizes = [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for _ in range(args.loads):
                context = browser.new_context()
                context.add_cookies([{"name": "fleetdeck_session", "value": token, "url": url}])
                page = context.new_page()
                page.goto(url + "/")
                page.wait_for_function(
                    "document.querySelector('[data-field=cpu]').textContent.endsWith('%')"
                )
                first = page.evaluate("performance.now()")
                page.wait_for_function(
                    "performance.getEntriesByName('first-contentful-paint').length > 0"
                )
                measured = page.evaluate(MEASURE)
                fcps.append(measured["fcp"])
                firsts.append(first)
                sizes.append(measured["bytes"])
                context.close()
            browser.close()
    finally:
        stop(proc)
    print(
        json.dumps(
            {
                "bench": "page_load",
                "page": "/",
                "hosts": 1,
                "loads": args.loads,
                "fcp_ms_p50": round(statistics.median(fcps), 1),
                "first_figures_ms_p50": round(statistics.median(firsts), 1),
                "first_figures_ms_max": round(max(firsts), 1),
                "bytes_transferred": int(statistics.median(sizes)),
            }
        )
    )


if __name__ == "__main__":
    main()
