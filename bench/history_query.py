"""Server time of a 7-day history query at auto resolution (5m: ~2,016 points, 6 series) for one
host, with 30 days of 5-minute and hourly rollups loaded for 100 hosts (the tiers such a query
reads; 1m and raw are not loaded), laid out as the store's sealing leaves them: one block per
host, day and resolution for past days, one per finished hour today, and one small block per
5-minute compaction in the current hour. Times the handler's work: the store query, shaping
the reply and encoding it as JSON. Prints one JSON line.

Usage: python bench/history_query.py [--hosts 100] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from fleet_data import KEYS, Host
from fleetdeck.api.history import Selection, _history_json
from fleetdeck.memory import tune_garbage_collector
from fleetdeck.store import migrate
from fleetdeck.store.engine import Database
from fleetdeck.tsdb import codec
from fleetdeck.tsdb.engine import TimeSeriesStore

DAY = 86_400_000
HOUR = 3_600_000
RETENTION = {"raw": DAY, "1m": 7 * DAY, "5m": 30 * DAY, "1h": 400 * DAY}
WIDTH = {"5m": 300_000, "1h": 3_600_000}
WANTED = [KEYS[0], KEYS[1], KEYS[10], KEYS[30], KEYS[31], KEYS[60]]


def stat_pool(seed: int, size: int = 24, ticks: int = 60) -> list[list[codec.Stats]]:
    """Bucket statistics built from simulated ticks, to reuse for every host and bucket."""
    host = Host(seed)
    pool = []
    for _ in range(size):
        rows = [codec.to_fixed(host.tick()) for _ in range(ticks)]
        pool.append([(min(c), max(c), sum(c), len(c)) for c in zip(*rows, strict=True)])
    return pool


def block_rows(
    name: str, ids: list[int], pool: list[list[codec.Stats]], now: int
) -> list[tuple[str, str, int, int, int, bytes]]:
    rows = []
    today = now // DAY * DAY
    for res, width in WIDTH.items():
        first = (now - 30 * DAY) // width * width
        buckets = list(range(first, now, width))
        by_day: dict[int, codec.Block] = {}
        hour = now // HOUR * HOUR
        for i, bucket in enumerate(buckets):
            if bucket >= hour:  # the current hour: one block per compaction (5 minutes)
                key = bucket
            elif bucket >= today:  # finished hours of today: sealed by the hour
                key = bucket // HOUR * HOUR
            else:  # past days: sealed by the day
                key = bucket // DAY * DAY
            block = by_day.setdefault(key, {})
            for sid, stats in zip(ids, pool[i % len(pool)], strict=True):
                block.setdefault(sid, {})[bucket] = stats
        for start, block in by_day.items():
            span = sorted({b for per in block.values() for b in per})
            data = codec.encode_block(block, split=start < hour)
            rows.append((name, res, span[0], span[-1], 6000 * len(span), data, span[0]))
    return rows


async def load(directory: Path, hosts: int, now: int) -> TimeSeriesStore:
    url = f"sqlite+aiosqlite:///{directory / 'fleetdeck.db'}"
    migrate.upgrade(url)
    db = Database(url)
    store = TimeSeriesStore(db, directory / "wal", RETENTION)
    await store.open()
    for h in range(hosts):  # registers each host's series with real ids
        await store.ingest(
            f"host-{h:03d}", now - 30 * DAY, zip(KEYS, [0.0] * len(KEYS), strict=True)
        )
    await store.compact()
    pool = stat_pool(1)
    conn = sqlite3.connect(directory / "fleetdeck.db")
    conn.execute("DELETE FROM ts_rollup_blocks")
    for h in range(hosts):
        name = f"host-{h:03d}"
        ids = [store._series[(name, k)] for k in KEYS]
        conn.executemany(
            "INSERT INTO ts_rollup_blocks (host, resolution, start_ts, end_ts, samples, data, hour)"
            " VALUES (?, ?, ?, ?, ?, ?, ? / 3600000)",
            block_rows(name, ids, pool, now),
        )
        conn.commit()
    conn.close()
    return store


async def measure(store: TimeSeriesStore, hosts: int, queries: int, now: int) -> list[float]:
    rng = random.Random(7)
    times = []
    for _ in range(queries):
        host = f"host-{rng.randrange(hosts):03d}"
        start, end = now - 7 * DAY, now
        began = time.perf_counter()
        res = store.pick_resolution(host, start, end)
        result = await store.query(host, start, end, res, WANTED)
        body = _history_json(Selection(host, start, end, res, WANTED), result)
        times.append((time.perf_counter() - began) * 1000)
        points = len(json.loads(body)["data"])
        assert res == "5m" and points >= 2000, (res, points)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    now = int(time.time() * 1000)
    with tempfile.TemporaryDirectory(prefix="fleetdeck-history-") as tmp:

        async def run() -> tuple[list[float], int]:
            store = await load(Path(tmp), args.hosts, now)
            tune_garbage_collector()  # as the server does once started
            times = await measure(store, args.hosts, args.queries, now)
            size = (await store.stats())["database_bytes"]
            await store.db.close()
            return times, int(size)

        times, size = asyncio.run(run())
    q = statistics.quantiles(times, n=100)
    print(
        json.dumps(
            {
                "bench": "history_query",
                "hosts": args.hosts,
                "days_loaded": 30,
                "queries": args.queries,
                "resolution": "5m",
                "series": len(WANTED),
                "points": 2016,
                "database_mb": round(size / 1e6, 1),
                "p50_ms": round(q[49], 2),
                "p99_ms": round(q[98], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
