"""TimeSeriesStore: ingest, flush to the WAL, compact into chunks and rollups, answer queries.

Write path: `ingest()` puts a host's samples in the in-memory head and the pending batch; every
`flush_interval` (<= 1 s) the batch is appended to the WAL and fsynced, so a crash loses at
most one interval. Every `compaction_interval`, or sooner when the head grows past
`max_head_samples`, the head becomes one compressed chunk per host, schema and hour plus one
block of 1-minute rollups per host and hour, written in one transaction that also records which
WAL segments it covers; those segments are then deleted. Nothing written is read back or
rewritten at compaction.

The coarser tiers are derived, not written at every compaction: once an hour is over, its
1-minute blocks are merged into one 5-minute and one hourly block per host, and the watermark
`rolled_until` moves past that hour in the same transaction (samples arriving later for an hour
behind the watermark get all three tiers at compaction). Once a day is over, its hourly blocks
of 5-minute and hourly buckets are sealed into one block per host, stored series by series, so
a week at 5 minutes is seven rows and a query inflates only the series it asks for. Queries of
the coarse tiers add the 1-minute blocks past the watermark, re-bucketed, and the head.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from array import array
from collections.abc import Iterable, KeysView, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import add, mul, truediv
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from fleetdeck.store import settings_kv
from fleetdeck.store import timeseries as repo
from fleetdeck.store.engine import Database
from fleetdeck.tsdb import codec, rollup, series, wal
from fleetdeck.tsdb.head import Buffer, Head

log = logging.getLogger(__name__)

COMPACTED_KEY = "tsdb.compacted_segment"
ROLLED_KEY = "tsdb.rolled_until"
FINE = "1m"  # the tier compaction writes; the coarser ones are derived from it
RAW = "raw"
AUTO_TARGET_POINTS = 1000
ALL_RESOLUTIONS = (RAW, *rollup.RESOLUTIONS)

Point = tuple[float, float, float]  # avg, min, max
Row = tuple[int, Sequence[Point | None]]  # bucket or sample time, one point per series
# One series' averages, minima and maxima, an entry per time of the result's axis; None
# where the series has no point.
Column = tuple[Sequence[float | None], Sequence[float | None], Sequence[float | None]]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What `ingest` took from one report, in the host's stored order."""

    keys: tuple[str, ...]
    values: tuple[float, ...]
    fixed: array[int]  # the values as the head holds them: fixed-point, int64
    row: int  # `fixed` as one unsigned little-endian integer, 64 bits a value (the WAL's)


@dataclass
class QueryResult:
    """Points of `keys` by column: a week at 5 minutes is thousands of times per series,
    and the reply is written column by column (api/history.py) without a tuple per point."""

    resolution: str
    start: int
    end: int
    keys: list[str]
    axis: list[int] = field(default_factory=list)  # bucket or sample times, ascending
    columns: list[Column] = field(default_factory=list)  # one per key when axis is not empty

    @property
    def rows(self) -> list[Row]:
        """The same by time: (time, one (avg, min, max) or None per key)."""
        per_series = [
            [None if avg is None else (avg, low, high) for avg, low, high in zip(*c, strict=True)]
            for c in self.columns
        ]
        by_time = zip(*per_series, strict=True) if per_series else ([] for _ in self.axis)
        return [(ts, list(points)) for ts, points in zip(self.axis, by_time, strict=True)]


def now_ms() -> int:
    return int(time.time() * 1000)


CHUNK_SPAN = rollup.RESOLUTIONS["1h"]


def _hour_runs(timestamps: list[int]) -> list[tuple[int, int]]:
    """[lo, hi) index ranges of sorted timestamps within one clock hour each, so chunks expire
    with retention one hour at a time and a query decodes at most an hour it does not need."""
    runs = []
    lo = 0
    for i in range(1, len(timestamps) + 1):
        if i == len(timestamps) or timestamps[i] // CHUNK_SPAN != timestamps[lo] // CHUNK_SPAN:
            runs.append((lo, i))
            lo = i
    return runs


def _block_row(host: str, resolution: str, block: codec.Block, *, split: bool) -> dict[str, Any]:
    start, end, samples = rollup.block_span(block)
    return {
        "host": host,
        "resolution": resolution,
        "start_ts": start,
        "hour": repo.hour_of(start),
        "end_ts": end,
        "samples": samples,
        "data": codec.encode_block(block, split=split),
    }


_ABSENT: codec.Stats = (0, 0, 0, 0)


def _stats_columns(stats: list[codec.Stats]) -> codec.Columns:
    return (
        [s[0] for s in stats],
        [s[1] - s[0] for s in stats],
        [s[2] - s[3] * s[0] for s in stats],
        [s[3] for s in stats],
    )


def _points(parts: list[tuple[list[int], codec.Columns]]) -> tuple[list[int], Column]:
    """One series' buckets and its averages, minima and maxima from its pieces (blocks, the
    head). Pieces in order and apart are joined as they are; overlapping ones merge bucket
    by bucket."""
    parts = sorted((p for p in parts if p[0]), key=lambda p: p[0][0])
    if all(a[0][-1] < b[0][0] for a, b in zip(parts, parts[1:], strict=False)):
        buckets = list(chain.from_iterable(bs for bs, _ in parts))
        lows, spreads, excesses, counts = (
            list(chain.from_iterable(c[i] for _, c in parts)) for i in range(4)
        )
    else:
        merged: dict[int, codec.Stats] = {}
        for bs, columns in parts:
            for bucket, stats in codec.block_from_columns(bs, {0: columns})[0].items():
                current = merged.get(bucket)
                merged[bucket] = stats if current is None else rollup.merge_stats(current, stats)
        buckets = sorted(merged)
        lows, spreads, excesses, counts = _stats_columns([merged[b] for b in buckets])
    if 0 in counts:  # buckets where this series had no sample
        present = [bool(c) for c in counts]
        buckets, lows, spreads, excesses, counts = (
            list(compress(column, present)) for column in (buckets, lows, spreads, excesses, counts)
        )
    # map() with operator functions runs these loops in C: a week at 5 minutes is thousands
    # of points per series, and a Python-level loop here was half the query's time.
    scale = repeat(codec.SCALE)
    totals = map(add, excesses, map(mul, counts, lows))
    avgs = map(truediv, map(round, map(truediv, totals, counts)), scale)
    mins = map(truediv, lows, scale)
    maxs = map(truediv, map(add, lows, spreads), scale)
    return buckets, (list(avgs), list(mins), list(maxs))


def _aligned(per_series: list[tuple[list[int], Column]]) -> tuple[list[int], list[Column]]:
    """One axis for every series: their buckets when all have the same (the usual case),
    else the union of them, with None where a series has no point."""
    axis = per_series[0][0] if per_series else []
    if all(buckets == axis for buckets, _ in per_series):
        return axis, [column for _, column in per_series]
    axis = sorted({b for buckets, _ in per_series for b in buckets})
    index = {bucket: i for i, bucket in enumerate(axis)}
    columns: list[Column] = []
    for buckets, column in per_series:
        filled: list[list[float | None]] = [[None] * len(axis) for _ in range(3)]
        for i, bucket in enumerate(buckets):
            at = index[bucket]
            for part, values in zip(filled, column, strict=True):
                part[at] = values[i]
        columns.append((filled[0], filled[1], filled[2]))
    return axis, columns


def _coarse_blocks(found: list[tuple[int, bytes]]) -> dict[str, codec.Block]:
    """5m and 1h blocks from 1m blocks (one block decoded at a time)."""
    out: dict[str, codec.Block] = {res: {} for res in rollup.COARSE}
    for _, blob in found:
        buckets, series_columns = codec.decode_block(blob)
        for res, width in rollup.COARSE.items():
            rebucketed = rollup.rebucket(codec.block_from_columns(buckets, series_columns), width)
            rollup.merge_blocks(out[res], rebucketed)
    return out


def _merge_blocks(found: list[tuple[int, bytes]]) -> tuple[list[int], codec.Block]:
    merged: codec.Block = {}
    for _, blob in found:
        buckets, series_columns = codec.decode_block(blob)
        part = codec.block_from_columns(buckets, series_columns)
        for sid, per in part.items():
            target = merged.setdefault(sid, {})
            for bucket, stats in per.items():
                current = target.get(bucket)
                target[bucket] = stats if current is None else rollup.merge_stats(current, stats)
    return [block_id for block_id, _ in found], merged


class TimeSeriesStore:
    def __init__(
        self,
        db: Database,
        directory: Path,
        retention_ms: dict[str, int],
        *,
        flush_interval: float = 1.0,
        compaction_interval: float = 300.0,
        max_head_samples: int = 10_000_000,
    ) -> None:
        self.db = db
        self.directory = directory
        self.retention_ms = retention_ms
        self.flush_interval = flush_interval
        self.compaction_interval = compaction_interval
        self.max_head_samples = max_head_samples
        self._series: dict[tuple[str, str], int] = {}
        self._by_host: dict[str, dict[str, int]] = {}  # the same, host first: key -> id
        self._keys: dict[int, str] = {}
        self._schemas: dict[int, list[int]] = {}
        self._schema_ids: dict[tuple[str, tuple[int, ...]], int] = {}
        self._schema_hosts: dict[int, str] = {}
        self._layouts: dict[str, tuple[tuple[str, ...], int]] = {}  # host -> last keys, schema
        self._ended: dict[int, int] = {}  # series id -> when it left its host's last layout
        self._head = Head()
        self._unsaved: list[Head] = []  # rotated out of the WAL, not yet committed as chunks
        self._unsaved_segment: int | None = None
        self._pending: list[wal.Row] = []
        self._wal: wal.WalWriter | None = None
        self._register = asyncio.Lock()
        self._wanted: dict[tuple[str, tuple[str, ...]], None] = {}  # layouts to register
        self._io = asyncio.Lock()
        self._generation = 0
        self.rolled_until = 0
        self.last_compaction: float | None = None
        self.last_retention: float | None = None
        self._retention_changed = False
        self.samples_ingested = 0

    # --- start and stop -------------------------------------------------------------------

    async def open(self, now: int | None = None) -> None:
        """Load series and schemas, replay the WAL. `now` (ms) stands for the clock on a new
        store's first start, where it sets the roll-up watermark to the current hour."""
        async with self.db.read() as conn:
            for sid, host, key, ended_at in await repo.all_series(conn):
                self._series[(host, key)] = sid
                self._by_host.setdefault(host, {})[key] = sid
                self._keys[sid] = key
                if ended_at is not None:
                    self._ended[sid] = ended_at
            for schema_id, host, ids in await repo.all_schemas(conn):
                self._schemas[schema_id] = ids
                self._schema_ids[(host, tuple(ids))] = schema_id
                self._schema_hosts[schema_id] = host
            compacted = await settings_kv.get(conn, COMPACTED_KEY)
            rolled = await settings_kv.get(conn, ROLLED_KEY)
        if rolled is None:  # a new store: nothing older than this hour exists in the 1m tier
            rolled = rollup.bucket_of(now_ms() if now is None else now, rollup.HOUR)
            async with self.db.write() as conn:
                await settings_kv.put(conn, ROLLED_KEY, rolled)
        self.rolled_until = int(rolled)
        compacted = int(compacted) if compacted is not None else -1
        numbers = wal.segments(self.directory)
        replayed = 0
        for number in numbers:
            if number <= compacted:
                wal.segment_path(self.directory, number).unlink(missing_ok=True)
                continue
            path = wal.segment_path(self.directory, number)
            for schema_id, ts, values in wal.read_segment(path, lambda s: len(self._schemas[s])):
                self._head.add(schema_id, self._schema_hosts[schema_id], ts, values)
                replayed += 1
        if replayed:
            log.info("replayed %d host samples from the write-ahead log", replayed)
            self._unsaved_segment = max(n for n in numbers if n > compacted)
        self._wal = wal.WalWriter(self.directory, (numbers[-1] + 1) if numbers else 0)

    async def close(self) -> None:
        """Flush and compact, so a restart starts with an empty WAL."""
        await self.compact()

    async def run(self) -> None:
        """Background loop: flush every interval, compact when due, retention at start and
        hourly (after a long stop, what expired meanwhile goes at once)."""
        last_compaction = time.monotonic()
        last_retention: float | None = None  # not 0: the monotonic clock starts at boot
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
                now = time.monotonic()
                due = now - last_compaction >= self.compaction_interval
                if due or self._head.samples >= self.max_head_samples:
                    await self.compact()
                    await self.seal()
                    last_compaction = now
                if (
                    self._retention_changed
                    or last_retention is None
                    or now - last_retention >= 3600
                ):
                    self._retention_changed = False
                    await self.enforce_retention()
                    last_retention = now
            except Exception:
                log.exception("time-series maintenance failed; will retry")

    # --- write path ---------------------------------------------------------------------

    def _known_schema(self, host: str, keys: tuple[str, ...]) -> int | None:
        try:
            ids = tuple(self._series[(host, k)] for k in keys)
        except KeyError:
            return None
        return self._schema_ids.get((host, ids))

    async def _schema(self, host: str, keys: tuple[str, ...]) -> int:
        """The schema id of this host's layout of series, registering what is new.

        Hosts that appear together (a fleet's first reports) are registered together: whoever
        holds the lock next writes the series and schemas of every layout waiting, in one
        transaction (bench/fleet: 1,000 new hosts within 5 s)."""
        schema_id = self._known_schema(host, keys)
        if schema_id is not None:
            return schema_id
        self._wanted[(host, keys)] = None
        async with self._register:
            wanted, self._wanted = self._wanted, {}
            wanted = {w: None for w in wanted if self._known_schema(*w) is None}
            if wanted:
                try:
                    try:  # the usual case: every series is new
                        added, made = await self._write_layouts(list(wanted), fast=True)
                    except sa.exc.IntegrityError:  # some exist already (another writer)
                        added, made = await self._write_layouts(list(wanted), fast=False)
                except BaseException:
                    self._wanted.update(wanted)  # the next caller tries again
                    raise
                for (h, key), sid in added.items():
                    self._keys[sid] = key
                    self._by_host.setdefault(h, {})[key] = sid
                self._series.update(added)
                for (h, series_ids), new_id in made:
                    self._schemas[new_id] = list(series_ids)
                    self._schema_ids[(h, series_ids)] = new_id
                    self._schema_hosts[new_id] = h
        schema_id = self._known_schema(host, keys)
        assert schema_id is not None
        return schema_id

    async def _write_layouts(
        self, layouts: list[tuple[str, tuple[str, ...]]], *, fast: bool
    ) -> tuple[dict[tuple[str, str], int], list[tuple[tuple[str, tuple[int, ...]], int]]]:
        missing = list(
            dict.fromkeys((h, k) for h, ks in layouts for k in ks if (h, k) not in self._series)
        )
        async with self.db.write() as conn:
            if fast:
                added = await repo.add_new_series(conn, missing)
            else:
                added = {}
                by_host: dict[str, list[str]] = {}
                for h, k in missing:
                    by_host.setdefault(h, []).append(k)
                for h, ks in by_host.items():
                    for key, series_id in (await repo.add_series(conn, h, ks)).items():
                        added[(h, key)] = series_id

            def id_of(h: str, k: str) -> int:
                return added[(h, k)] if (h, k) in added else self._series[(h, k)]

            wanted = [(h, tuple(id_of(h, k) for k in ks)) for h, ks in layouts]
            todo = [w for w in dict.fromkeys(wanted) if w not in self._schema_ids]
            made = list(zip(todo, await repo.add_schemas(conn, todo), strict=True))
        return added, made

    async def ingest(
        self, host: str, ts: int, samples: Iterable[tuple[str, float]]
    ) -> Accepted | None:
        """Accept one tick of a host: (series key, value) pairs at `ts` (Unix ms). Returns the
        keys and values taken (a repeated key keeps its first value), None when empty: the
        alert evaluator reads the same row, and the keys tuple stays the same object for as
        long as the host's layout does."""
        pairs = samples if isinstance(samples, list | tuple) else list(samples)
        if not pairs:
            return None
        keys, values = zip(*pairs, strict=True)
        layout = self._layouts.get(host)
        if layout is not None and layout[0] == keys:  # the usual case: the last layout again
            keys, schema_id = layout
        else:
            if len(set(keys)) != len(keys):
                first: dict[str, float] = {}
                for key, value in pairs:
                    first.setdefault(key, value)
                keys, values = tuple(first), tuple(first.values())
            schema_id = await self._schema(host, keys)
            self._layouts[host] = (keys, schema_id)
        fixed = codec.to_fixed(values)
        self._head.add(schema_id, host, ts, fixed)
        sample = wal.row_of(schema_id, ts, fixed)
        self._pending.append(sample)
        self.samples_ingested += len(fixed)
        return Accepted(keys, values, fixed, sample[3])

    async def ingest_snapshot(
        self, host: str, ts: int, snapshot: dict[str, Any]
    ) -> Accepted | None:
        return await self.ingest(host, ts, series.from_snapshot(snapshot))

    async def flush(self) -> None:
        async with self._io:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        batch, self._pending = self._pending, []
        if not batch or self._wal is None:
            return
        try:
            await asyncio.to_thread(self._wal.append, batch)
        except OSError:
            self._pending = batch + self._pending  # still in the head; written next time
            raise

    async def compact(self) -> None:
        async with self._io:
            await self._flush_locked()
            if self._wal is not None and (self._head.samples or self._unsaved):
                if self._head.samples:
                    self._unsaved_segment = self._wal.rotate()
                    self._unsaved.append(self._head)
                    self._head = Head()
            heads = list(self._unsaved)
            segment = self._unsaved_segment
            if not heads:
                return
            chunks, blocks, levels = await asyncio.to_thread(self._encode, heads)
            async with self.db.write() as conn:
                await repo.insert_chunks(conn, chunks)
                await repo.insert_rollups(conn, blocks)
                if segment is not None:
                    await settings_kv.put(conn, COMPACTED_KEY, segment)
            self._unsaved = []
            self._generation += 1
            self.last_compaction = time.time()
            if self._wal is not None:  # for the WAL's next segment: see wal.RowState
                self._wal.levels.update(levels)
            if segment is not None:
                for number in wal.segments(self.directory):
                    if number <= segment:
                        wal.segment_path(self.directory, number).unlink(missing_ok=True)

    def _encode(
        self, heads: list[Head]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, int]]:
        """Chunk rows, rollup block rows, and which series each schema's last chunk stores
        as levels."""
        chunks: list[dict[str, Any]] = []
        blocks: dict[tuple[str, str], codec.Block] = {}
        levels: dict[int, int] = {}
        for head in heads:
            for schema_id, buffer in head.buffers.items():
                timestamps, columns = buffer.sorted_columns()
                for lo, hi in _hour_runs(timestamps):
                    data, levels[schema_id] = codec.encode_chunk(
                        timestamps[lo:hi], [c[lo:hi] for c in columns]
                    )
                    chunks.append(
                        {
                            "host": buffer.host,
                            "schema_id": schema_id,
                            "start_ts": timestamps[lo],
                            "hour": repo.hour_of(timestamps[lo]),
                            "end_ts": timestamps[hi - 1],
                            "ticks": hi - lo,
                            "data": data,
                        }
                    )
                ids = self._schemas[schema_id]
                late = timestamps[0] < self.rolled_until  # no roll-up will see those hours
                for res, width in rollup.RESOLUTIONS.items():
                    if res != FINE and not late:
                        continue
                    rollup.add_to_block(
                        blocks.setdefault((buffer.host, res), {}),
                        rollup.from_columns(timestamps, columns, ids, width),
                    )
        # Two heads can hold the same host and first timestamp only after a replayed crash.
        # In index order (the hour first), so each index page is dirtied once per compaction.
        unique = {(c["hour"], c["host"], c["start_ts"], c["schema_id"]): c for c in chunks}
        unique = dict(sorted(unique.items()))
        rows = []
        for (host, res), block in blocks.items():
            for hour, part in rollup.split_by_period(block, rollup.HOUR).items():
                if res == FINE or hour < self.rolled_until:  # late: no roll-up will see it
                    rows.append(_block_row(host, res, part, split=False))
        rows.sort(key=lambda r: (r["resolution"], r["hour"], r["host"], r["start_ts"]))
        return list(unique.values()), rows, levels

    async def seal(self, now: int | None = None, *, batch: int = 200) -> int:
        """Roll finished hours up into the 5m and 1h tiers, then seal each finished day's
        blocks of those tiers into one. Returns how many blocks were written.

        An hour is finished when it ended before the last compaction began, so no head still
        holds its samples; later ones take the late path in compaction.
        """
        now = now_ms() if now is None else now
        cutoff = now - int(self.compaction_interval * 1000)
        written = await self._roll_up(rollup.bucket_of(cutoff, rollup.HOUR))
        for res in rollup.COARSE:
            before = rollup.bucket_of(cutoff, rollup.DAY)
            while True:
                async with self._io, self.db.write() as conn:
                    todo = await repo.unsealed_periods(conn, res, rollup.DAY, before, batch)
                    for host, start in todo:
                        found = await repo.rollups_within(
                            conn, host, res, start, start + rollup.DAY
                        )
                        ids, merged = await asyncio.to_thread(_merge_blocks, found)
                        row = _block_row(host, res, merged, split=True)
                        await repo.replace_rollups(conn, ids, row)
                    if todo:
                        self._generation += 1
                written += len(todo)
                if len(todo) < batch:
                    break
        return written

    async def _roll_up(self, until: int) -> int:
        """The 5m and 1h blocks of every hour in [rolled_until, until), from the 1m blocks,
        host by host, in one transaction with the watermark."""
        if until <= self.rolled_until:
            return 0
        rows: list[dict[str, Any]] = []
        written = 0
        async with self._io, self.db.write() as conn:
            hosts = await repo.rollup_hosts(conn, FINE, self.rolled_until, until)
            for host in hosts:
                found = await repo.rollups_within(conn, host, FINE, self.rolled_until, until)
                blocks = await asyncio.to_thread(_coarse_blocks, found)
                for res, block in blocks.items():
                    for part in rollup.split_by_period(block, rollup.HOUR).values():
                        rows.append(_block_row(host, res, part, split=False))
                if len(rows) >= 1000:
                    await repo.insert_rollups(conn, rows)
                    written, rows = written + len(rows), []
            await repo.insert_rollups(conn, rows)
            await settings_kv.put(conn, ROLLED_KEY, until)
            self.rolled_until = until
            self._generation += 1
        return written + len(rows)

    @property
    def retention_seconds(self) -> dict[str, int]:
        return {tier: ms // 1000 for tier, ms in self.retention_ms.items()}

    def set_retention(self, retention_ms: dict[str, int]) -> None:
        """New retention per resolution, for queries at once and for stored data within a
        flush interval (the background loop runs the retention job then, not an hour later)."""
        self.retention_ms = dict(retention_ms)
        self._retention_changed = True

    async def enforce_retention(self, now: int | None = None) -> dict[str, int]:
        now = now_ms() if now is None else now
        deleted = {}
        async with self.db.write() as conn:
            deleted[RAW] = await repo.delete_chunks_before(conn, self.kept_since(RAW, now))
            for res in rollup.RESOLUTIONS:
                cutoff = self.kept_since(res, now)
                deleted[res] = await repo.delete_rollups_before(conn, res, cutoff)
        deleted["schemas"], deleted["series"] = await self._forget_unused(now)
        self.last_retention = time.time()
        return deleted

    async def _forget_unused(self, now: int) -> tuple[int, int]:
        """Forget layouts (schemas) that no chunk, buffer or WAL segment holds any more: their
        host has not reported them for longer than raw retention. A series then in no layout
        is marked ended; once every resolution's retention (and a day, the longest a rollup
        block spans) has passed since, none of its samples is left and it is forgotten too.
        Without this, hosts whose containers come and go under new names grew the database
        and the server's memory by a layout per change, for ever. Returns how many of each
        were forgotten."""
        # Compaction (`_io`) moves buffers into chunks, registration (`_register`) adds
        # layouts: neither may run between looking for users of a layout and forgetting it.
        async with self._register, self._io:
            async with self.db.read() as conn:
                in_chunks = await repo.schemas_with_chunks(conn)
            held = in_chunks.union(*(head.buffers for head in [*self._unsaved, self._head]))
            unused = [sid for sid in self._schemas if sid not in held]
            for schema_id in unused:  # no await from here to the last: ingest sees all or none
                host = self._schema_hosts.pop(schema_id)
                layout = (host, tuple(self._schemas.pop(schema_id)))
                if self._schema_ids.get(layout) == schema_id:  # not a twin's (two writers)
                    del self._schema_ids[layout]
                if self._layouts.get(host, ((), -1))[1] == schema_id:
                    del self._layouts[host]
                if self._wal is not None:
                    self._wal.levels.pop(schema_id, None)
            in_use = {sid for ids in self._schemas.values() for sid in ids}
            ended = [sid for sid in self._keys if sid not in in_use and sid not in self._ended]
            back = [sid for sid in self._ended if sid in in_use]
            longest = max(self.retention_ms.values()) + rollup.DAY
            expired = [
                sid for sid, at in self._ended.items() if at + longest < now and sid not in in_use
            ]
            async with self.db.write() as conn:
                await repo.delete_schemas(conn, unused)
                await repo.set_series_ended(conn, ended, now)
                await repo.set_series_ended(conn, back, None)
                await repo.delete_series(conn, expired)
            for sid in ended:
                self._ended[sid] = now
            for sid in back:
                del self._ended[sid]
            hosts = {sid: host for (host, _), sid in self._series.items()} if expired else {}
            for sid in expired:
                del self._ended[sid]
                host, key = hosts[sid], self._keys.pop(sid)
                del self._series[(host, key)]
                del self._by_host[host][key]
                if not self._by_host[host]:
                    del self._by_host[host]
            if unused or expired:
                self._generation += 1
        if unused or expired:
            log.info(
                "forgot %d unused series layouts and %d ended series", len(unused), len(expired)
            )
        return len(unused), len(expired)

    # --- read path ----------------------------------------------------------------------

    @property
    def series_count(self) -> int:
        return len(self._series)

    @property
    def ended_series(self) -> int:
        """Series no host reports any more, kept until their samples' retention passes."""
        return len(self._ended)

    def hosts(self) -> KeysView[str]:
        return self._by_host.keys()

    def keys(self, host: str) -> list[str]:
        return sorted(self._by_host.get(host, ()))

    def _buffers(self, host: str) -> list[tuple[int, Buffer]]:
        found: list[tuple[int, Buffer]] = []
        for head in [*self._unsaved, self._head]:
            found.extend(head.for_host(host))
        return found

    def raw_interval_ms(self, host: str, default: int = 5000) -> int:
        for _, buffer in self._buffers(host):
            ts = buffer.timestamps[-10:]
            if len(ts) >= 2 and ts[-1] > ts[0]:
                return max(1, (ts[-1] - ts[0]) // (len(ts) - 1))
        return default

    def pick_resolution(self, host: str, start: int, end: int, now: int | None = None) -> str:
        """The resolution still holding `start` whose point count is nearest ~1,000.

        Nearest on a log scale: a week gives 5m (2,016 points) rather than 1h (168), a day 1m
        (1,440) rather than raw at 5 s (17,280).
        """
        now = now_ms() if now is None else now
        span = max(end - start, 1)
        best, best_distance = "1h", math.inf
        for res in ALL_RESOLUTIONS:
            if start < self.kept_since(res, now):
                continue
            width = self.raw_interval_ms(host) if res == RAW else rollup.RESOLUTIONS[res]
            distance = abs(math.log(max(span / width, 1) / AUTO_TARGET_POINTS))
            if distance < best_distance:
                best, best_distance = res, distance
        return best

    def kept_since(self, resolution: str, now: int | None = None) -> int:
        """The oldest time (ms) `resolution` still keeps under its retention."""
        return (now_ms() if now is None else now) - self.retention_ms[resolution]

    async def query(
        self, host: str, start: int, end: int, resolution: str, keys: list[str]
    ) -> QueryResult:
        """Points of `keys` (series keys) for host in [start, end] (ms) at `resolution`."""
        now = now_ms()
        end = min(end, now)
        kept = self.kept_since(resolution, now)
        # A span wholly before what this resolution keeps is the empty [end, end].
        result = QueryResult(resolution, min(max(start, kept), end), end, keys)
        # series id -> its key's position (a key with no series keeps an empty column)
        wanted = {
            self._series[(host, k)]: i for i, k in enumerate(keys) if (host, k) in self._series
        }
        if not wanted or end < kept or start > end:  # before what is kept, or after now
            return result
        start = result.start
        for _ in range(3):  # retry when a compaction moved data between the head and the DB
            generation = self._generation
            buffers = self._buffers(host)
            if resolution == RAW:
                per_series = await self._raw(host, start, end, wanted, len(keys), buffers)
            else:
                per_series = await self._rolled(
                    host, start, end, resolution, wanted, len(keys), buffers
                )
            if generation == self._generation:
                break
        result.axis, result.columns = _aligned(per_series)
        return result

    async def _raw(
        self,
        host: str,
        start: int,
        end: int,
        wanted: dict[int, int],
        count: int,
        buffers: list[tuple[int, Buffer]],
    ) -> list[tuple[list[int], Column]]:
        samples: list[dict[int, float]] = [{} for _ in range(count)]  # per key: time -> value
        pieces: list[tuple[int, list[int], list[list[int]]]] = []
        async with self.db.read() as conn:
            stored = await repo.chunks_for(conn, host, start, end)
        for schema_id, _, blob in stored:
            timestamps, columns = codec.decode_chunk(blob)
            pieces.append((schema_id, timestamps, columns))
        for schema_id, buffer in buffers:
            timestamps, columns = buffer.sorted_columns()
            pieces.append((schema_id, timestamps, columns))
        for schema_id, timestamps, columns in pieces:
            ids = self._schemas.get(schema_id)
            if ids is None:  # its chunks expired and the layout was forgotten since the read
                continue
            positions = [
                (wanted[sid], col) for sid, col in zip(ids, columns, strict=True) if sid in wanted
            ]
            lo, hi = bisect.bisect_left(timestamps, start), bisect.bisect_right(timestamps, end)
            for pos, col in positions:
                scaled = map(truediv, col[lo:hi], repeat(codec.SCALE))  # fixed point -> float
                samples[pos].update(zip(timestamps[lo:hi], scaled, strict=True))
        per_series: list[tuple[list[int], Column]] = []
        for by_time in samples:  # a sample is its own average, minimum and maximum
            times = sorted(by_time)
            values = [by_time[ts] for ts in times]
            per_series.append((times, (values, values, values)))
        return per_series

    async def _rolled(
        self,
        host: str,
        start: int,
        end: int,
        resolution: str,
        wanted: dict[int, int],
        count: int,
        buffers: list[tuple[int, Buffer]],
    ) -> list[tuple[list[int], Column]]:
        width = rollup.RESOLUTIONS[resolution]
        first = rollup.bucket_of(start, width)
        fine: list[tuple[int, bytes]] = []
        async with self.db.read() as conn:
            stored = await repo.rollups_for(conn, host, resolution, first, end)
            if resolution in rollup.COARSE and end >= self.rolled_until:
                since = max(first, self.rolled_until)
                fine = await repo.rollups_for(conn, host, FINE, since, end)
        parts: list[list[tuple[list[int], codec.Columns]]] = [[] for _ in range(count)]
        wanted_ids = set(wanted)
        for _, blob in fine:  # past the watermark: not in this tier yet
            buckets, series_columns = codec.decode_block(blob, wanted_ids)
            block = rollup.rebucket(codec.block_from_columns(buckets, series_columns), width)
            for sid, per in block.items():
                in_range = sorted(b for b in per if first <= b <= end)
                stats = [per[b] for b in in_range]
                parts[wanted[sid]].append((in_range, _stats_columns(stats)))
        for _, blob in stored:
            buckets, series_columns = codec.decode_block(blob, wanted_ids)
            lo, hi = bisect.bisect_left(buckets, first), bisect.bisect_right(buckets, end)
            for sid, columns in series_columns.items():
                cut = (
                    columns
                    if lo == 0 and hi == len(buckets)
                    else cast(codec.Columns, tuple(c[lo:hi] for c in columns))
                )
                parts[wanted[sid]].append((buckets[lo:hi], cut))
        for schema_id, buffer in buffers:
            timestamps, values = buffer.sorted_columns()
            ids = self._schemas[schema_id]
            head = rollup.from_columns(timestamps, values, ids, width)
            in_range = sorted(b for b in head if first <= b <= end)
            for sid, pos in wanted.items():
                stats = [head[b].get(sid, _ABSENT) for b in in_range]
                parts[pos].append((in_range, _stats_columns(stats)))
        return [_points(p) for p in parts]

    async def stats(self) -> dict[str, Any]:
        async with self.db.read() as conn:
            counts = await repo.counts(conn)
            size = await repo.database_size(conn)
        heads = [self._head, *self._unsaved]
        counts["head_samples"] = sum(h.samples for h in heads)
        # Samples not compacted yet are raw samples too, and a new store holds only those.
        held = [t for t in (counts["raw_oldest"], *(h.oldest() for h in heads)) if t is not None]
        counts["raw_oldest"] = min(held, default=None)
        counts["wal_bytes"] = sum(p.stat().st_size for p in self.directory.glob("*.wal"))
        counts["database_bytes"] = size
        return counts
