"""The time-series store on SQLite and PostgreSQL: what goes in comes out, through compaction,
crashes, retention and changing series."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fleetdeck.store.engine import Database
from fleetdeck.tsdb import wal
from fleetdeck.tsdb.engine import TimeSeriesStore, now_ms

DAY = 86_400_000
RETENTION = {"raw": DAY, "1m": 7 * DAY, "5m": 30 * DAY, "1h": 400 * DAY}


async def open_store(db: Database, directory: Path) -> TimeSeriesStore:
    store = TimeSeriesStore(db, directory, RETENTION)
    await store.open()
    return store


def minute_start() -> int:
    return (now_ms() - 3_600_000) // 3_600_000 * 3_600_000  # an hour boundary, an hour ago


async def feed(store: TimeSeriesStore, start: int, ticks: int, step: int = 1000) -> None:
    for i in range(ticks):
        await store.ingest("web-1", start + i * step, [("cpu", i % 10), ("memory", 50.25)])


async def test_raw_points_are_the_same_before_and_after_compaction(
    db: Database, tmp_path: Path
) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    await feed(store, t0, 120)
    before = await store.query("web-1", t0, t0 + 200_000, "raw", ["cpu", "memory"])
    await store.compact()
    after = await store.query("web-1", t0, t0 + 200_000, "raw", ["cpu", "memory"])
    assert before.rows == after.rows and len(after.rows) == 120
    assert after.rows[3] == (t0 + 3000, [(3.0, 3.0, 3.0), (50.25, 50.25, 50.25)])


async def test_rollups_merge_across_compactions_and_the_head(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    await feed(store, t0, 30)  # first half of minute 0
    await store.compact()
    await store.ingest("web-1", t0 + 30_000, [("cpu", 99.5)])  # a spike, still in the head
    await feed(store, t0 + 31_000, 29)
    (bucket, (cpu,)) = (await store.query("web-1", t0, t0 + 59_000, "1m", ["cpu"])).rows[0]
    assert bucket == t0
    values = [i % 10 for i in range(30)] + [99.5] + [i % 10 for i in range(29)]
    assert cpu == (round(sum(values) / 60, 2), 0.0, 99.5)
    await store.compact()
    assert (await store.query("web-1", t0, t0 + 59_000, "1m", ["cpu"])).rows[0][1][0] == cpu
    (_, (hourly,)) = (await store.query("web-1", t0, t0 + 59_000, "1h", ["cpu"])).rows[0]
    assert hourly == cpu


async def test_finished_hours_roll_up_and_days_seal_answering_the_same(
    db: Database, tmp_path: Path
) -> None:
    t0 = minute_start() - 3_600_000  # two hours ago, on the hour
    store = TimeSeriesStore(db, tmp_path, RETENTION)
    await store.open(now=t0)  # first start at t0: the watermark is there
    for part in range(8):  # eight compactions over 80 minutes, one sample every 10 s
        await feed(store, t0 + part * 600_000, 60, step=10_000)
        await store.compact()
    span = (t0, t0 + 80 * 60_000)
    tiers = ("1m", "5m", "1h")
    before = {r: (await store.query("web-1", *span, r, ["cpu", "memory"])).rows for r in tiers}
    assert [len(before[r]) for r in tiers] == [80, 16, 2]
    assert set((await store.stats())["rollups"]) == {"1m"}  # only 1m is written at compaction

    written = await store.seal(now=t0 + 2 * DAY)  # both hours, and their day, are over
    assert written >= 2 and store.rolled_until == t0 + 2 * DAY - 3_600_000
    after = {r: (await store.query("web-1", *span, r, ["cpu", "memory"])).rows for r in tiers}
    assert after == before
    stats = (await store.stats())["rollups"]
    assert stats["1m"]["rows"] == 8 and stats["5m"]["rows"] in (1, 2)  # 2 across midnight
    assert await store.seal(now=t0 + 2 * DAY) == 0  # nothing left to do

    await store.ingest("web-1", t0 + 5_000, [("cpu", 99.0)])  # late: behind the watermark
    await store.compact()
    (_, (cpu,)) = (await store.query("web-1", t0, t0, "1h", ["cpu"])).rows[0]
    assert cpu[2] == 99.0 and cpu != before["1h"][0][1][0]


async def test_a_sealed_day_is_found_from_its_later_hours(db: Database, tmp_path: Path) -> None:
    """Rows are indexed by the hour they start in; a sealed block starts in its day's first."""
    t0 = minute_start() - 4 * 3_600_000
    store = TimeSeriesStore(db, tmp_path, RETENTION)
    await store.open(now=t0)
    for part in range(4):  # four hours, a sample a minute
        await feed(store, t0 + part * 3_600_000, 60, step=60_000)
        await store.compact()
    last = (t0 + 3 * 3_600_000, t0 + 4 * 3_600_000 - 1)
    before = (await store.query("web-1", *last, "5m", ["cpu"])).rows
    await store.seal(now=t0 + 2 * DAY)
    assert (await store.stats())["rollups"]["5m"]["rows"] in (1, 2)  # 2 across midnight
    assert (await store.query("web-1", *last, "5m", ["cpu"])).rows == before
    assert len(before) == 12


async def test_flushed_samples_survive_a_crash(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    await feed(store, t0, 10)
    await store.flush()
    await feed(store, t0 + 10_000, 5)  # accepted but never flushed: lost in the crash
    # crash: the store is dropped without close()
    again = await open_store(db, tmp_path)
    rows = (await again.query("web-1", t0, t0 + 60_000, "raw", ["cpu"])).rows
    assert [ts for ts, _ in rows] == [t0 + i * 1000 for i in range(10)]
    await again.compact()
    assert not list(tmp_path.glob("*.wal"))[:-1]  # compacted segments are gone
    third = await open_store(db, tmp_path)
    assert len((await third.query("web-1", t0, t0 + 60_000, "raw", ["cpu"])).rows) == 10


async def test_after_a_compaction_mostly_idle_series_survive_a_crash_exactly(
    db: Database, tmp_path: Path
) -> None:
    """A compaction tells the WAL which series its chunks stored as levels (a network rate
    idle but for bursts); the next segment stores them so, and replays them exactly."""
    store = await open_store(db, tmp_path)
    t0 = minute_start()

    def tick(i: int) -> list[tuple[str, float]]:
        return [("cpu", 12.5 + i % 7), ("rx", 0.0 if i % 4 else 1234.56 * i), ("temp", -3.5)]

    for i in range(60):
        await store.ingest("web-1", t0 + i * 1000, tick(i))
    await store.compact()
    assert set(store._wal.levels.values()) == {0b010}  # type: ignore[union-attr]
    for i in range(60, 90):
        await store.ingest("web-1", t0 + i * 1000, tick(i))
    await store.flush()
    # crash: the store is dropped without close()
    again = await open_store(db, tmp_path)
    rows = (await again.query("web-1", t0, t0 + 90_000, "raw", ["cpu", "rx", "temp"])).rows
    assert [(ts, [p[0] for p in points]) for ts, points in rows] == [
        (t0 + i * 1000, [round(value, 2) for _, value in tick(i)]) for i in range(90)
    ]


async def test_a_torn_wal_record_loses_only_itself(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    await feed(store, t0, 3)
    await store.flush()
    await feed(store, t0 + 3000, 3)
    await store.flush()
    segment = wal.segment_path(tmp_path, wal.segments(tmp_path)[-1])
    segment.write_bytes(segment.read_bytes()[:-5])  # power cut in the middle of the last write
    again = await open_store(db, tmp_path)
    rows = (await again.query("web-1", t0, t0 + 60_000, "raw", ["cpu"])).rows
    assert len(rows) == 3


async def test_new_series_mid_stream_keep_old_ones_intact(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    await store.ingest("web-1", t0, [("cpu", 1), ("disk[/]", 40)])
    await store.ingest("web-1", t0 + 1000, [("cpu", 2), ("disk[/]", 41), ("disk[/data]", 7)])
    await store.compact()
    result = await store.query("web-1", t0, t0 + 5000, "raw", ["cpu", "disk[/data]"])
    assert result.rows == [(t0, [(1.0,) * 3, None]), (t0 + 1000, [(2.0,) * 3, (7.0,) * 3])]
    assert store.keys("web-1") == ["cpu", "disk[/]", "disk[/data]"]


async def test_late_and_repeated_samples_are_ordered_and_deduplicated(
    db: Database, tmp_path: Path
) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    for ts, v in ((t0 + 2000, 2), (t0, 0), (t0 + 1000, 1), (t0 + 1000, 1.5)):
        await store.ingest("web-1", ts, [("cpu", v)])
    await store.compact()
    rows = (await store.query("web-1", t0, t0 + 5000, "raw", ["cpu"])).rows
    assert [(ts - t0, p[0][0]) for ts, p in rows] == [(0, 0.0), (1000, 1.5), (2000, 2.0)]


async def test_hosts_do_not_see_each_others_series(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    await store.ingest("web-1", t0, [("cpu", 1)])
    await store.ingest("db-1", t0, [("cpu", 9)])
    await store.compact()
    assert (await store.query("db-1", t0, t0, "raw", ["cpu"])).rows == [(t0, [(9.0,) * 3])]


async def test_retention_removes_what_is_older_than_each_tier(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    old = now_ms() - 3 * DAY
    await store.ingest("web-1", old, [("cpu", 5)])
    await store.ingest("web-1", now_ms(), [("cpu", 6)])
    await store.compact()
    deleted = await store.enforce_retention()
    assert deleted["raw"] == 1 and deleted["1m"] == 0
    stats = await store.stats()
    assert stats["chunks"] == 1 and stats["rollups"]["1m"]["rows"] == 2


async def test_the_background_loop_enforces_retention_when_it_starts(
    db: Database, tmp_path: Path
) -> None:
    store = TimeSeriesStore(db, tmp_path, RETENTION, flush_interval=0.01)
    await store.open()
    await store.ingest("web-1", now_ms() - 3 * DAY, [("cpu", 5)])  # expired while stopped
    await store.compact()
    loop = asyncio.create_task(store.run())
    try:
        for _ in range(500):
            if store.last_retention is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        loop.cancel()
    assert store.last_retention is not None
    assert (await store.stats())["chunks"] == 0


async def test_auto_resolution_is_nearest_a_thousand_points(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path)
    now = now_ms()
    await store.ingest("web-1", now - 5000, [("cpu", 1)])
    await store.ingest("web-1", now, [("cpu", 1)])
    assert store.pick_resolution("web-1", now - 3_600_000, now, now) == "raw"  # 720 points
    assert store.pick_resolution("web-1", now - 6 * 3_600_000, now, now) == "1m"  # 360 v 4320
    assert store.pick_resolution("web-1", now - DAY, now, now) == "1m"  # 1440
    assert store.pick_resolution("web-1", now - 7 * DAY, now, now) == "5m"  # 2016, not 168
    assert store.pick_resolution("web-1", now - 90 * DAY, now, now) == "1h"  # 5m is not kept


async def test_ingest_hands_back_what_it_took_with_one_key_tuple_per_layout(
    db: Database, tmp_path: Path
) -> None:
    store = await open_store(db, tmp_path)
    t0 = minute_start()
    first = await store.ingest("web-1", t0, [("cpu", 1.0), ("memory", 2.0), ("cpu", 9.0)])
    assert first is not None
    assert (first.keys, first.values) == (("cpu", "memory"), (1.0, 2.0))  # first value wins
    second = await store.ingest("web-1", t0 + 1000, iter([("cpu", 3.0), ("memory", 4.0)]))
    assert second is not None and second.keys is first.keys  # what the evaluator's plan keys on
    grown = await store.ingest("web-1", t0 + 2000, [("cpu", 5.0), ("memory", 6.0), ("swap", 7)])
    assert grown is not None and grown.keys == ("cpu", "memory", "swap")
    assert await store.ingest("web-1", t0 + 3000, []) is None
    await store.compact()
    rows = (await store.query("web-1", t0, t0 + 5000, "raw", ["cpu"])).rows
    assert [p[0][0] for _, p in rows] == [1.0, 3.0, 5.0]


async def test_layouts_and_series_no_host_reports_any_more_are_forgotten(
    db: Database, tmp_path: Path
) -> None:
    """A container that ran for a minute: its layout goes once raw retention has passed, its
    series once every resolution's has; the rest is untouched, and the same name later is a
    new series. (`then` is 405 days ago, so the second half happens at the real clock.)"""
    store = await open_store(db, tmp_path)
    then = now_ms() - 405 * DAY
    start = then - 2 * DAY
    job = "container.cpu[job-1]"
    for i in range(60):
        await store.ingest("web-1", start + i * 1000, [("cpu", 1.0), (job, 50.0)])
    for i in range(10):
        await store.ingest("web-1", then - 10_000 + i * 1000, [("cpu", 2.0)])
    await store.compact()
    deleted = await store.enforce_retention(now=then)
    assert (deleted["raw"], deleted["schemas"], deleted["series"]) == (1, 1, 0)
    assert store.keys("web-1") == ["container.cpu[job-1]", "cpu"]  # its rollups are kept
    assert store.ended_series == 1
    assert (await store.stats())["rollups"]["1m"]["rows"] == 2
    await store.close()

    store = await open_store(db, tmp_path)  # what was forgotten stays forgotten
    assert len(store._schemas) == 1 and store.keys("web-1") == ["container.cpu[job-1]", "cpu"]
    now = now_ms()
    await store.ingest("web-1", now - 2000, [("cpu", 3.0)])  # in the head, in no chunk yet
    deleted = await store.enforce_retention()  # beyond the longest retention and a day
    assert (deleted["schemas"], deleted["series"]) == (0, 1)
    assert store.keys("web-1") == ["cpu"] and store.ended_series == 0
    await store.ingest("web-1", now - 1000, [("cpu", 4.0), (job, 70.0)])  # the name again
    raw = await store.query("web-1", now - 2000, now - 1000, "raw", ["cpu", job])
    assert raw.rows == [
        (now - 2000, [(3.0, 3.0, 3.0), None]),
        (now - 1000, [(4.0, 4.0, 4.0), (70.0, 70.0, 70.0)]),
    ]
    await store.close()
    store = await open_store(db, tmp_path)
    assert store.keys("web-1") == ["container.cpu[job-1]", "cpu"]
    again = await store.query("web-1", now - 2000, now - 1000, "raw", ["cpu", job])
    assert again.rows == raw.rows
