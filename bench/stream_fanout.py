"""200 concurrent SSE clients of /api/v1/stream at a 1 s interval: the server's CPU and the delay
from publishing a tick to its delivery (p50/p99, from each event's `id:` = publish time in ms).
Prints one JSON line.

Usage: python bench/stream_fanout.py [--clients 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

from common import cpu_seconds, login, peak_rss_mb, start_fleetdeck, stop


async def client(host: str, port: int, token: str, until: float, delays: list[float]) -> int:
    """A minimal SSE reader over a raw socket, so the benchmark's own cost stays small."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    events = 0
    try:
        while time.time() < until:
            line = await asyncio.wait_for(reader.readline(), timeout=max(0.1, until - time.time()))
            if line.startswith(b"id: "):
                delays.append(time.time() * 1000 - int(line[4:]))
                events += 1
    except TimeoutError:
        pass
    finally:
        writer.close()
    return events


async def run(
    url: str, token: str, clients: int, seconds: float, warmup: float
) -> tuple[list[float], list[int]]:
    parts = urlsplit(url)
    delays: list[float] = []
    until = time.time() + warmup + seconds
    tasks = [
        asyncio.create_task(
            client(parts.hostname or "127.0.0.1", parts.port or 80, token, until, delays)
        )
        for _ in range(clients)
    ]
    await asyncio.sleep(warmup)
    delays.clear()  # connect-time events (the latest snapshot, sent at once) are not ticks
    counts = await asyncio.gather(*tasks)
    return delays, list(counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()

    server, url = start_fleetdeck(refresh=1.0)
    try:
        token = login(url)
        before = time.monotonic(), cpu_seconds(server.pid)
        # Measure CPU over the same window as the events, warm-up included for simplicity.
        delays, counts = asyncio.run(run(url, token, args.clients, args.seconds, args.warmup))
        after = time.monotonic(), cpu_seconds(server.pid)
        cpu_pct = 100.0 * (after[1] - before[1]) / (after[0] - before[0])
        quantiles = statistics.quantiles(delays, n=100) if len(delays) > 1 else [0.0] * 99
        print(
            json.dumps(
                {
                    "bench": "stream_fanout",
                    "clients": args.clients,
                    "seconds": args.seconds,
                    "interval_s": 1.0,
                    "events_delivered": len(delays),
                    "clients_with_no_event": sum(1 for c in counts if c == 0),
                    "delay_ms_p50": round(quantiles[49], 2),
                    "delay_ms_p99": round(quantiles[98], 2),
                    "delay_ms_max": round(max(delays, default=0.0), 2),
                    "server_cpu_pct_of_one_core": round(cpu_pct, 1),
                    "server_peak_rss_mb": round(peak_rss_mb(server.pid), 1),
                }
            )
        )
    finally:
        stop(server)


if __name__ == "__main__":
    main()
