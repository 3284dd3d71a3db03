"""What alerting costs: ingest CPU with 200 rules over 1,000 hosts against none, and the delay
from a threshold crossing to the webhook's arrival.

Part 1 feeds 1,000 simulated hosts x 100 series (bench/fleet_data.py) through the real ingest
path (series lookup, head, WAL append + fsync per tick) for `--ticks` ticks into two stores in
one process, tick by tick, one with the evaluator after every host's ingest, called as the hub
calls it (`evaluate_snapshot` with the stored row and the `host.online` state, `persist` when
an alert moved), and reports the extra CPU time. The 200 rules: 20 fleet-wide family rules
(temperatures, disks, CPU cores, rates, at thresholds a few samples cross) and 180 rules on
one host's one series, as people write them.

Part 2 runs the evaluator and the delivery worker in one process with a webhook receiver on
loopback: each round crosses a threshold (a rule with `for` 0) and measures until the receiver
has the message: evaluation, the outbox write, the worker's pickup and the HTTP POST. The rule's
`for` adds to this, and the collector's tick (up to one refresh interval) comes before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fleet_data import KEYS, Host
from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.alerts.rules import Rule
from fleetdeck.auth.keys import SecretBox
from fleetdeck.fleet.hub import ONLINE
from fleetdeck.memory import tune_garbage_collector
from fleetdeck.notify.delivery import Deliverer, DeliveryPolicy
from fleetdeck.store import alerts as alert_store
from fleetdeck.store import migrate, notifications
from fleetdeck.store.engine import Database
from fleetdeck.tsdb.engine import TimeSeriesStore

STEP_MS = 5000
WARMUP_TICKS = 4
RETENTION = {"raw": 86_400_000, "1m": 7 * 86_400_000, "5m": 30 * 86_400_000, "1h": 400 * 86_400_000}


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rules(hosts: int) -> list[Rule]:
    def rule(
        i: int, metric: str, warning: float, scope: str = "all", value: str | None = None
    ) -> Rule:
        return Rule(id=f"r{i}", name=f"rule {i}", metric=metric, comparison=">", warning=warning,
                    critical=warning + 3, for_seconds=60, hysteresis=2.0, scope=scope,
                    scope_value=value)  # fmt: skip

    fleet_wide = [
        rule(i, family, threshold)
        for i, (family, threshold) in enumerate(
            [("temp", 85.0)] * 5 + [("disk", 97.0)] * 5 + [("cpu.core", 90.0)] * 5
            + [("net.rx", 900_000.0)] * 5
        )
    ]  # fmt: skip
    # Per-host rules as people write them: this database's disk, that box's CPU, a link's rate.
    levels = {"cpu.core": 95.0, "net.rx": 5_000_000.0, "disk": 98.0, "temp": 90.0}
    scoped = [
        rule(20 + i, key, levels[key.split("[", 1)[0]], "host", f"host-{(i * 37) % hosts:04d}")
        for i, key in enumerate(KEYS[j % len(KEYS)] for j in range(0, 180 * 7, 7))
    ]
    return fleet_wide + scoped


async def _store(directory: Path) -> tuple[Database, TimeSeriesStore]:
    directory.mkdir()
    url = f"sqlite+aiosqlite:///{directory / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url, audit_key=b"k" * 32)
    store = TimeSeriesStore(db, directory / "wal", RETENTION, max_head_samples=10**12)
    await store.open()
    return db, store


async def ingest_cpu(directory: Path, hosts: int, ticks: int) -> dict[str, Any]:
    """Two stores in one process take the same reports tick by tick, one with the evaluator
    after each host's ingest (as the hub does), one without; which goes first alternates by
    tick, after `WARMUP_TICKS` unmeasured. Each tick's two passes are timed (CPU, the WAL
    thread included) back to back, so the machine's drift (10-20 % within minutes on the VMs
    these ran on) falls on both alike. The two stores share one heap: the garbage collector's
    walks of the evaluator's objects land on both passes, so they count half."""
    plain_db, plain = await _store(directory / "plain")
    db, store = await _store(directory / "alerting")
    evaluator = Evaluator(db)
    await evaluator.load()
    async with db.write() as conn:
        for builtin in await alert_store.list_rules(conn):  # exactly the 200 rules below
            await alert_store.put_rule(conn, replace(builtin, enabled=False))
        for r in rules(hosts):
            await alert_store.put_rule(conn, r)
    await evaluator.reload_rules()
    fleet = [Host(i) for i in range(hosts)]
    names = [f"host-{i:04d}" for i in range(hosts)]
    t0 = int(time.time() * 1000) - ticks * STEP_MS
    ts = t0 - (WARMUP_TICKS + 1) * STEP_MS
    for name, host in zip(names, fleet, strict=True):  # registration, not measured
        row = host.tick()
        await plain.ingest(name, ts, zip(KEYS, row, strict=True))
        first = await store.ingest(name, ts, zip(KEYS, row, strict=True))
        if first is not None:  # so is the evaluator's plan of each host's layout
            evaluator.evaluate_snapshot(name, {}, stored=first, extra=ONLINE)
    await plain.flush()
    await store.flush()
    tune_garbage_collector()  # as the server does once started

    async def without(ts: int, rows: list[list[float]]) -> None:
        for name, row in zip(names, rows, strict=True):
            await plain.ingest(name, ts, zip(KEYS, row, strict=True))
        await plain.flush()

    written = 0

    async def alerting(ts: int, rows: list[list[float]], timed: bool) -> float:
        nonlocal written
        spent = 0.0
        for name, row in zip(names, rows, strict=True):
            taken = await store.ingest(name, ts, zip(KEYS, row, strict=True))
            if taken is None:
                continue
            # Wall time of a call that does no I/O unless an alert moves (none fires here)
            # is its CPU time; per call, getrusage would cost as much as it.
            t = time.perf_counter() if timed else 0.0
            changes = evaluator.evaluate_snapshot(name, {}, stored=taken, extra=ONLINE)
            if changes:
                await evaluator.persist(changes)
                written += len(changes)
            if timed:
                spent += time.perf_counter() - t
        await store.flush()
        return spent

    # Per tick: the CPU of each pass. Every other pair of ticks times the evaluation report by
    # report (its own share, from those); the extra CPU is taken from the other pairs, where
    # two clock reads per report (0.3-0.8 % of the ingest, measured with a no-op evaluation)
    # do not add to it.
    base: list[float] = []
    with_rules: list[float] = []
    timed_base, timed_spent = 0.0, 0.0
    opened, before = 0, set(evaluator.pending)
    for tick in range(-WARMUP_TICKS, ticks):  # the first passes warm caches, not measured
        rows = [h.tick() for h in fleet]
        ts = t0 + tick * STEP_MS
        timed = tick // 2 % 2 == 1
        if tick < 0:
            await without(ts, rows)
            await alerting(ts, rows, False)
            continue
        for alert in (False, True) if tick % 2 == 0 else (True, False):
            started = cpu_now()
            spent = 0.0
            if alert:
                spent = await alerting(ts, rows, timed)
            else:
                await without(ts, rows)
            used = cpu_now() - started
            if not timed:
                (with_rules if alert else base).append(used)
            elif alert:
                timed_spent += spent
            else:
                timed_base += used
        opened += len(evaluator.pending.keys() - before)  # pending alerts live in memory
        before = set(evaluator.pending)
    await db.close()
    await plain_db.close()
    return {"base": base, "with_rules": with_rules, "share": 100 * timed_spent / timed_base,
            "changes": written, "pending_opened": opened}  # fmt: skip


class Receiver:
    def __init__(self) -> None:
        self.arrived: list[float] = []
        self.event = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.arrived.append(time.perf_counter())
                owner.event.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def delivery_delay(directory: Path, rounds: int) -> list[float]:
    url = f"sqlite+aiosqlite:///{directory / 'delay.sqlite'}"
    migrate.upgrade(url)
    db = Database(url, audit_key=b"k" * 32)
    receiver = Receiver()
    box = SecretBox(b"s" * 32)
    deliverer = Deliverer(db, box, DeliveryPolicy(allow_private=True))
    evaluator = Evaluator(db, on_queued=deliverer.wake)
    await evaluator.load()
    async with db.write() as conn:
        await alert_store.put_rule(
            conn, Rule(id="hot", name="Hot", metric="temp", comparison=">", warning=80.0,
                       critical=None, for_seconds=0, hysteresis=0.0),
        )  # fmt: skip
        await notifications.put_channel(
            conn, channel_id=None, kind="webhook", name="bench",
            config={"url": f"http://127.0.0.1:{receiver.port}/", "secret": None},
            enabled=True, min_level="warning",
        )  # fmt: skip
    await evaluator.reload_rules()
    worker = asyncio.create_task(deliverer.run())
    delays = []
    for _ in range(rounds):
        receiver.event.clear()
        started = time.perf_counter()
        await evaluator.observe("host-0", [("temp[cpu]", 90.0)])  # fires
        while not receiver.event.is_set():
            await asyncio.sleep(0.0005)
        delays.append((receiver.arrived[-1] - started) * 1000)
        await evaluator.observe("host-0", [("temp[cpu]", 20.0)])  # resolves (also a message)
        receiver.event.clear()
        while not receiver.event.is_set():
            await asyncio.sleep(0.0005)
    worker.cancel()
    await db.close()
    receiver.server.shutdown()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=60, help="a multiple of 4")
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run = asyncio.run(ingest_cpu(Path(directory), args.hosts, args.ticks))
    base, with_rules = sum(run["base"]), sum(run["with_rules"])
    # Pairs of ticks: one with each order, so what going first or second costs cancels.
    pairs = [
        100
        * (sum(run["with_rules"][i : i + 2]) - sum(run["base"][i : i + 2]))
        / sum(run["base"][i : i + 2])
        for i in range(0, len(run["base"]) - 1, 2)
    ]
    with tempfile.TemporaryDirectory() as directory:
        delays = sorted(asyncio.run(delivery_delay(Path(directory), args.rounds)))
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        json.dumps(
            {
                "bench": "alert_eval",
                "hosts": args.hosts,
                "series_per_host": len(KEYS),
                "rules": 200,
                "ticks": args.ticks,
                "extra_cpu_pct": round(100 * (with_rules - base) / base, 1),
                "extra_cpu_pct_tick_pairs": {
                    "median": round(statistics.median(pairs), 1),
                    "p10": round(statistics.quantiles(pairs, n=10)[0], 1),
                    "p90": round(statistics.quantiles(pairs, n=10)[-1], 1),
                },
                "ingest_cpu_s_without_rules": round(base, 3),
                "ingest_cpu_s_with_rules": round(with_rules, 3),
                "evaluation_share_pct": round(run["share"], 1),
                "alert_transitions": run["changes"],  # written: firing, level changes, ...
                "pending_alerts_opened": run["pending_opened"],
                "delivery_rounds": args.rounds,
                "crossing_to_webhook_ms_p50": round(statistics.median(delays), 2),
                "crossing_to_webhook_ms_p99": round(p99, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
