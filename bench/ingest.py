"""Ingest throughput and storage cost of the time-series store on SQLite.

A simulated fleet of 1,000 hosts x 100 series, one tick every 5 s of simulated time for an hour
by default (one roll-up period: shorter runs over-weight the per-block overhead of the coarse
tiers), goes through the real path: series lookup, head, one WAL append + fsync per tick (the
production flush), compaction into chunks and rollup blocks every 60 ticks (5 simulated
minutes), and at the end the sealing that finished hours and days get. Only that path is timed;
generating the values is not. Bytes written are the process's `write_bytes` from /proc/self/io
(WAL file, SQLite WAL and checkpoints), with a final checkpoint included; registering the series
(once per host's life) is measured before and reported apart.

Before the measured hour, the tables get what a server holds at its default retention: a day of
raw chunks and a week of 1m blocks per host, written in time order, with one-byte stand-ins for
the data (rows are appended at the end of their table, so only the indexes' size bears on what
a compaction writes: with the indexes keyed host first, a compaction wrote four times the bytes
with this history stored as into an empty database, which is all this benchmark measured
then). At the end, the retention job drops the hour that fell out of each tier, as it does
every hour. `--empty` starts from an empty database instead.

For comparison, bare `executemany` into the same SQLite settings: (a) the chunk rows the real
path wrote, (b) one row per host per tick holding 100 float64s, (c) one row per sample.
Prints one JSON line.

Usage: python bench/ingest.py [--hosts 1000] [--ticks 720]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import struct
import tempfile
import time
from pathlib import Path

from fleet_data import KEYS, Host
from fleetdeck.memory import tune_garbage_collector
from fleetdeck.store import migrate
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore

DAY = 86_400_000
RETENTION = {"raw": DAY, "1m": 7 * DAY, "5m": 30 * DAY, "1h": 400 * DAY}
STEP_MS = 5000


def write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def stored_history(path: Path, names: list[str], t0: int) -> None:
    """A day of raw chunks and a week of 1m blocks before t0, one of each per host and
    5 minutes, as compactions would have written them."""
    compaction = 60 * STEP_MS
    conn = sqlite3.connect(path)
    conn.execute("BEGIN")
    for k in range(RETENTION["1m"] // compaction, 0, -1):
        start = t0 - k * compaction
        if k <= RETENTION["raw"] // compaction:
            conn.executemany(
                "INSERT INTO ts_chunks (host, start_ts, schema_id, end_ts, ticks, data, hour)"
                " VALUES (?, ?, 0, ?, 60, x'00', ?)",
                [(n, start, start + compaction - STEP_MS, start // 3_600_000) for n in names],
            )
        conn.executemany(
            "INSERT INTO ts_rollup_blocks (host, resolution, start_ts, end_ts, samples, data,"
            " hour) VALUES (?, '1m', ?, ?, 6000, x'00', ?)",
            [(n, start, start + compaction - 60_000, start // 3_600_000) for n in names],
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def real_path(directory: Path, hosts: int, ticks: int, history: bool) -> dict[str, float]:
    url = f"sqlite+aiosqlite:///{directory / 'fleetdeck.db'}"
    migrate.upgrade(url)
    fleet = [Host(i) for i in range(hosts)]
    names = [f"host-{i:04d}" for i in range(hosts)]
    t0 = (int(time.time() * 1000) - ticks * STEP_MS) // 3_600_000 * 3_600_000
    if t0 % DAY == 0:
        # Not the day's first hour: with the registration tick in the hour before, the day's
        # seal then rewrites the coarse blocks once, as it does every day for each hour. Run
        # from midnight, the seal would find one block a day, skip it, and the figures would
        # depend on the time the benchmark starts.
        t0 -= 3_600_000
    if history:
        stored_history(directory / "fleetdeck.db", names, t0)
    db = Database(url)
    store = TimeSeriesStore(db, directory / "wal", RETENTION, max_head_samples=10**12)
    # The store starts at the simulated clock, as a server starts when its data begins: opened
    # at the wall clock, every tick of the past hour would be late data (written to all three
    # tiers at each compaction, then merged at the seal) and the figures would depend on the
    # minute the benchmark starts.
    await store.open(now=t0)
    before = await store.stats()  # the stored history's bytes, taken off the figures below
    # Registering 100,000 series happens once per host's life, not per sample: its cost is
    # reported on its own, and the steady state is measured after it.
    registration_before = write_bytes()
    for name, host in zip(names, fleet, strict=True):
        await store.ingest(name, t0 - STEP_MS, zip(KEYS, host.tick(), strict=True))
    await store.flush()
    await store.compact()
    registration = write_bytes() - registration_before
    tune_garbage_collector()  # as the server does once started
    elapsed = 0.0
    written_before = write_bytes()
    # Where the bytes go: our WAL (ingest + flush), compactions (chunks and 1m blocks, SQLite's
    # WAL and its automatic checkpoints), the hourly roll-up and daily seal, retention (the
    # hour that fell out of each tier), the last checkpoint.
    phases = dict.fromkeys(
        ("wal", "compaction", "rollup_and_seal", "retention", "final_checkpoint"), 0
    )

    def count(phase: str, since: int) -> int:
        now = write_bytes()
        phases[phase] += now - since
        return now

    for tick in range(ticks):
        values = [h.tick() for h in fleet]
        ts = t0 + tick * STEP_MS
        started = time.perf_counter()
        mark = write_bytes()
        for name, row in zip(names, values, strict=True):
            await store.ingest(name, ts, zip(KEYS, row, strict=True))
        await store.flush()
        mark = count("wal", mark)
        if (tick + 1) % 60 == 0:
            await store.compact()
            count("compaction", mark)
        elapsed += time.perf_counter() - started
    started = time.perf_counter()
    mark = write_bytes()
    await store.compact()
    mark = count("compaction", mark)
    # Seal as the hours and the day end: every rollup block is rewritten once per seal step.
    await store.seal(now=t0 + 2 * DAY)
    mark = count("rollup_and_seal", mark)
    await store.enforce_retention(now=t0 + ticks * STEP_MS)
    mark = count("retention", mark)
    async with db.write() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    count("final_checkpoint", mark)
    elapsed += time.perf_counter() - started
    written = write_bytes() - written_before
    stats = await store.stats()
    stats["raw_bytes"] -= before["raw_bytes"]
    stats["database_bytes"] -= before["database_bytes"]
    for res, tier in stats["rollups"].items():
        tier["bytes"] -= before["rollups"].get(res, {}).get("bytes", 0)
    await db.close()
    samples = hosts * ticks * len(KEYS)
    return {
        "samples": samples,
        "seconds": elapsed,
        "samples_per_s": samples / elapsed,
        "written_bytes": written,
        "written_by_phase": phases,  # type: ignore[dict-item]
        "registration_bytes": registration,
        "stats": stats,  # type: ignore[dict-item]
    }


def bare_chunks(directory: Path, source: Path) -> float:
    """(a) Insert the real path's chunk rows again; returns seconds."""
    rows = (
        sqlite3.connect(source)
        .execute(
            "SELECT host, start_ts, schema_id, end_ts, ticks, data FROM ts_chunks"
            " WHERE schema_id > 0"  # not the stored history's stand-ins
        )
        .fetchall()
    )
    conn = sqlite_connect(directory / "bare_chunks.db")
    conn.execute(
        "CREATE TABLE ts_chunks (host TEXT, start_ts INTEGER, schema_id INTEGER, end_ts INTEGER,"
        " ticks INTEGER, data BLOB, PRIMARY KEY (host, start_ts, schema_id)) WITHOUT ROWID"
    )
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO ts_chunks VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


def bare_rows(directory: Path, hosts: int, ticks: int, per_sample: bool) -> tuple[float, int, int]:
    """(b) one row per host per tick, or (c) one row per sample; one transaction per tick.
    Returns seconds, samples and bytes written."""
    name = "bare_samples.db" if per_sample else "bare_ticks.db"
    conn = sqlite_connect(directory / name)
    if per_sample:
        conn.execute(
            "CREATE TABLE s (series INTEGER, ts INTEGER, value REAL,"
            " PRIMARY KEY (series, ts)) WITHOUT ROWID"
        )
    else:
        conn.execute(
            "CREATE TABLE t (ts INTEGER, host INTEGER, data BLOB,"
            " PRIMARY KEY (ts, host)) WITHOUT ROWID"
        )
    fleet = [Host(i) for i in range(hosts)]
    pack = struct.Struct(f"<{len(KEYS)}d").pack
    elapsed = 0.0
    before = write_bytes()
    for tick in range(ticks):
        values = [h.tick() for h in fleet]
        ts = tick * STEP_MS
        if per_sample:
            rows = [
                (h * len(KEYS) + s, ts, v)
                for h, row in enumerate(values)
                for s, v in enumerate(row)
            ]
        else:
            rows = [(ts, h, pack(*row)) for h, row in enumerate(values)]
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO {'s' if per_sample else 't'} VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
        elapsed += time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elapsed += time.perf_counter() - started
    written = write_bytes() - before
    conn.close()
    return elapsed, hosts * ticks * len(KEYS), written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=720)  # an hour: one roll-up period
    parser.add_argument(
        "--empty", action="store_true", help="start from an empty database (no stored history)"
    )
    args = parser.parse_args()
    base = Path(os.environ.get("BENCH_DIR", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix="fleetdeck-ingest-", dir=base) as tmp:
        directory = Path(tmp)
        real = asyncio.run(real_path(directory, args.hosts, args.ticks, not args.empty))
        stats = real["stats"]
        samples = int(real["samples"])
        chunk_s = bare_chunks(directory, directory / "fleetdeck.db")
        tick_s, tick_n, tick_w = bare_rows(directory, args.hosts, args.ticks, per_sample=False)
        ticks_for_rows = max(1, args.ticks // 10)  # one row per sample is slow: a tenth of it
        row_s, row_n, row_w = bare_rows(directory, args.hosts, ticks_for_rows, per_sample=True)
        rollups = stats["rollups"]  # type: ignore[index]
        result = {
            "bench": "ingest",
            "backend": "sqlite",
            "hosts": args.hosts,
            "series_per_host": len(KEYS),
            "ticks": args.ticks,
            "stored_history": not args.empty,
            "samples": samples,
            "real_samples_per_s": round(real["samples_per_s"]),
            "bare_chunk_rows_samples_per_s": round(samples / chunk_s),
            "bare_row_per_host_tick_samples_per_s": round(tick_n / tick_s),
            "bare_row_per_sample_samples_per_s": round(row_n / row_s),
            "real_vs_bare_row_per_host_tick": round(real["samples_per_s"] / (tick_n / tick_s), 2),
            "stored_bytes_per_raw_sample": round(stats["raw_bytes"] / samples, 3),  # type: ignore[index]
            "rollup_stored_bytes_per_raw_sample": {
                r: round(v["bytes"] / samples, 3) for r, v in rollups.items()
            },
            "database_growth_bytes_per_raw_sample": round(stats["database_bytes"] / samples, 3),  # type: ignore[index]
            "written_bytes_per_raw_sample": round(real["written_bytes"] / samples, 3),
            "written_bytes_per_raw_sample_by_phase": {
                phase: round(n / samples, 3)
                for phase, n in real["written_by_phase"].items()  # type: ignore[attr-defined]
            },
            "series_registration_written_bytes_per_series": round(
                real["registration_bytes"] / (args.hosts * len(KEYS)), 1
            ),
            "bare_row_per_host_tick_written_bytes_per_sample": round(tick_w / tick_n, 2),
            "bare_row_per_sample_written_bytes_per_sample": round(row_w / row_n, 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
