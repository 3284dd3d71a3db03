"""TimeSeriesStore: ingest, flush to the WAL, compact into chunks and rollups, answer queries.

Write path: `ingest()` puts a host's samples in the in-memory head and the pending batch; every
`flush_interval` (<= 1 s) the batch is appended to the WAL and fsynced, so a crash loses at
most one interval. Every `compaction_interval`, or sooner when the head grows past
`max_head_samples`, the head becomes one compressed chunk per host and schema plus merged
rollup rows, written in one transaction that also records which WAL segments it covers; those
segments are then deleted. At start, segments not yet compacted are replayed into the head.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetdeck.store import settings_kv
from fleetdeck.store import timeseries as repo
from fleetdeck.store.engine import Database
from fleetdeck.tsdb import codec, rollup, series, wal
from fleetdeck.tsdb.head import Buffer, Head

log = logging.getLogger(__name__)

COMPACTED_KEY = "tsdb.compacted_segment"
RAW = "raw"
AUTO_TARGET_POINTS = 1000
ALL_RESOLUTIONS = (RAW, *rollup.RESOLUTIONS)

Point = tuple[float, float, float]  # avg, min, max


@dataclass
class QueryResult:
    resolution: str
    start: int
    end: int
    keys: list[str]
    rows: list[tuple[int, list[Point | None]]] = field(default_factory=list)


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
        self._keys: dict[int, str] = {}
        self._schemas: dict[int, list[int]] = {}
        self._schema_ids: dict[tuple[str, tuple[int, ...]], int] = {}
        self._schema_hosts: dict[int, str] = {}
        self._head = Head()
        self._unsaved: list[Head] = []  # rotated out of the WAL, not yet committed as chunks
        self._unsaved_segment: int | None = None
        self._pending: list[wal.Sample] = []
        self._wal: wal.WalWriter | None = None
        self._register = asyncio.Lock()
        self._io = asyncio.Lock()
        self._generation = 0
        self.last_compaction: float | None = None
        self.last_retention: float | None = None
        self.samples_ingested = 0

    # --- start and stop -------------------------------------------------------------------

    async def open(self) -> None:
        async with self.db.read() as conn:
            for sid, host, key in await repo.all_series(conn):
                self._series[(host, key)] = sid
                self._keys[sid] = key
            for schema_id, host, ids in await repo.all_schemas(conn):
                self._schemas[schema_id] = ids
                self._schema_ids[(host, tuple(ids))] = schema_id
                self._schema_hosts[schema_id] = host
            compacted = await settings_kv.get(conn, COMPACTED_KEY)
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
        """Background loop: flush every interval, compact when due, retention hourly."""
        last_compaction = time.monotonic()
        last_retention = 0.0
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
                now = time.monotonic()
                due = now - last_compaction >= self.compaction_interval
                if due or self._head.samples >= self.max_head_samples:
                    await self.compact()
                    last_compaction = now
                if now - last_retention >= 3600:
                    await self.enforce_retention()
                    last_retention = now
            except Exception:
                log.exception("time-series maintenance failed; will retry")

    # --- write path ---------------------------------------------------------------------

    async def _ids(self, host: str, keys: list[str]) -> tuple[int, ...]:
        missing = [k for k in keys if (host, k) not in self._series]
        if missing:
            async with self._register:
                missing = [k for k in keys if (host, k) not in self._series]
                if missing:
                    async with self.db.write() as conn:
                        added = await repo.add_series(conn, host, missing)
                    for key, sid in added.items():
                        self._series[(host, key)] = sid
                        self._keys[sid] = key
        return tuple(self._series[(host, k)] for k in keys)

    async def _schema(self, host: str, ids: tuple[int, ...]) -> int:
        schema_id = self._schema_ids.get((host, ids))
        if schema_id is None:
            async with self._register:
                schema_id = self._schema_ids.get((host, ids))
                if schema_id is None:
                    async with self.db.write() as conn:
                        schema_id = await repo.add_schema(conn, host, ids)
                    self._schemas[schema_id] = list(ids)
                    self._schema_ids[(host, ids)] = schema_id
                    self._schema_hosts[schema_id] = host
        return schema_id

    async def ingest(self, host: str, ts: int, samples: Iterable[tuple[str, float]]) -> int:
        """Accept one tick of a host: (series key, value) pairs at `ts` (Unix ms)."""
        values_by_key: dict[str, float] = {}
        for key, value in samples:
            values_by_key.setdefault(key, value)  # a repeated key keeps its first value
        if not values_by_key:
            return 0
        keys = list(values_by_key)
        schema_id = await self._schema(host, await self._ids(host, keys))
        values = [codec.to_fixed(values_by_key[k]) for k in keys]
        self._head.add(schema_id, host, ts, values)
        self._pending.append((schema_id, ts, values))
        self.samples_ingested += len(values)
        return len(values)

    async def ingest_snapshot(self, host: str, ts: int, snapshot: dict[str, Any]) -> int:
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
            chunks, buckets = await asyncio.to_thread(self._encode, heads)
            async with self.db.write() as conn:
                await repo.insert_chunks(conn, chunks)
                await repo.put_rollups(conn, await self._merged_rollups(conn, buckets))
                if segment is not None:
                    await settings_kv.put(conn, COMPACTED_KEY, segment)
            self._unsaved = []
            self._generation += 1
            self.last_compaction = time.time()
            if segment is not None:
                for number in wal.segments(self.directory):
                    if number <= segment:
                        wal.segment_path(self.directory, number).unlink(missing_ok=True)

    def _encode(
        self, heads: list[Head]
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str, int], rollup.BucketStats]]:
        chunks: list[dict[str, Any]] = []
        buckets: dict[tuple[str, str, int], rollup.BucketStats] = {}
        for head in heads:
            for schema_id, buffer in head.buffers.items():
                timestamps, columns = buffer.sorted_columns()
                for lo, hi in _hour_runs(timestamps):
                    chunks.append(
                        {
                            "host": buffer.host,
                            "schema_id": schema_id,
                            "start_ts": timestamps[lo],
                            "end_ts": timestamps[hi - 1],
                            "ticks": hi - lo,
                            "data": codec.encode_chunk(
                                timestamps[lo:hi], [c[lo:hi] for c in columns]
                            ),
                        }
                    )
                ids = self._schemas[schema_id]
                for res, width in rollup.RESOLUTIONS.items():
                    for bucket, stats in rollup.from_columns(
                        timestamps, columns, ids, width
                    ).items():
                        rollup.merge_into(buckets.setdefault((buffer.host, res, bucket), {}), stats)
        # Two heads can hold the same host and first timestamp only after a replayed crash.
        unique = {(c["host"], c["start_ts"], c["schema_id"]): c for c in chunks}
        return list(unique.values()), buckets

    async def _merged_rollups(
        self, conn: Any, buckets: dict[tuple[str, str, int], rollup.BucketStats]
    ) -> list[dict[str, Any]]:
        by_host_res: dict[tuple[str, str], list[int]] = {}
        for host, res, bucket in buckets:
            by_host_res.setdefault((host, res), []).append(bucket)
        for (host, res), touched in by_host_res.items():
            for bucket, blob in await repo.rollups_for(conn, host, res, min(touched), max(touched)):
                if (host, res, bucket) in buckets:
                    rollup.merge_into(buckets[(host, res, bucket)], codec.decode_rollup(blob))
        return [
            {
                "host": host,
                "resolution": res,
                "bucket_ts": bucket,
                "samples": sum(s[3] for s in stats.values()),
                "data": codec.encode_rollup(stats),
            }
            for (host, res, bucket), stats in buckets.items()
        ]

    async def enforce_retention(self, now: int | None = None) -> dict[str, int]:
        now = now_ms() if now is None else now
        deleted = {}
        async with self.db.write() as conn:
            deleted[RAW] = await repo.delete_chunks_before(conn, now - self.retention_ms[RAW])
            for res in rollup.RESOLUTIONS:
                cutoff = now - self.retention_ms[res]
                deleted[res] = await repo.delete_rollups_before(conn, res, cutoff)
        self.last_retention = time.time()
        return deleted

    # --- read path ----------------------------------------------------------------------

    def hosts(self) -> set[str]:
        return {host for host, _ in self._series}

    def keys(self, host: str) -> list[str]:
        return sorted(key for h, key in self._series if h == host)

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
            if start < now - self.retention_ms[res]:
                continue
            width = self.raw_interval_ms(host) if res == RAW else rollup.RESOLUTIONS[res]
            distance = abs(math.log(max(span / width, 1) / AUTO_TARGET_POINTS))
            if distance < best_distance:
                best, best_distance = res, distance
        return best

    async def query(
        self, host: str, start: int, end: int, resolution: str, keys: list[str]
    ) -> QueryResult:
        """Points of `keys` (series keys) for host in [start, end] (ms) at `resolution`."""
        now = now_ms()
        start = max(start, now - self.retention_ms[resolution])
        result = QueryResult(resolution, start, min(end, now), keys)
        wanted = {
            self._series[(host, k)]: i for i, k in enumerate(keys) if (host, k) in self._series
        }
        if not wanted or start > end:
            return result
        for _ in range(3):  # retry when a compaction moved data between the head and the DB
            generation = self._generation
            buffers = self._buffers(host)
            if resolution == RAW:
                rows = await self._raw(host, start, end, wanted, buffers)
            else:
                rows = await self._rolled(host, start, end, resolution, wanted, buffers)
            if generation == self._generation:
                result.rows = rows
                return result
        result.rows = rows
        return result

    async def _raw(
        self,
        host: str,
        start: int,
        end: int,
        wanted: dict[int, int],
        buffers: list[tuple[int, Buffer]],
    ) -> list[tuple[int, list[Point | None]]]:
        points: dict[int, list[Point | None]] = {}
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
            ids = self._schemas[schema_id]
            positions = [
                (wanted[sid], col) for sid, col in zip(ids, columns, strict=True) if sid in wanted
            ]
            for i, ts in enumerate(timestamps):
                if start <= ts <= end:
                    row = points.setdefault(ts, [None] * len(wanted))
                    for pos, col in positions:
                        v = codec.from_fixed(col[i])
                        row[pos] = (v, v, v)
        return sorted(points.items())

    async def _rolled(
        self,
        host: str,
        start: int,
        end: int,
        resolution: str,
        wanted: dict[int, int],
        buffers: list[tuple[int, Buffer]],
    ) -> list[tuple[int, list[Point | None]]]:
        width = rollup.RESOLUTIONS[resolution]
        first = rollup.bucket_of(start, width)
        buckets: dict[int, rollup.BucketStats] = {}
        async with self.db.read() as conn:
            stored = await repo.rollups_for(conn, host, resolution, first, end)
        wanted_ids = set(wanted)
        for bucket, blob in stored:
            buckets[bucket] = codec.decode_rollup_some(blob, wanted_ids)
        for schema_id, buffer in buffers:
            timestamps, columns = buffer.sorted_columns()
            ids = self._schemas[schema_id]
            for bucket, stats in rollup.from_columns(timestamps, columns, ids, width).items():
                if first <= bucket <= end:
                    rollup.merge_into(buckets.setdefault(bucket, {}), stats)
        rows = []
        for bucket in sorted(buckets):
            row: list[Point | None] = [None] * len(wanted)
            for sid, (lo, hi, total, count) in buckets[bucket].items():
                if sid in wanted and count:
                    row[wanted[sid]] = (
                        round(total / count / codec.SCALE, 2),
                        codec.from_fixed(lo),
                        codec.from_fixed(hi),
                    )
            rows.append((bucket, row))
        return rows

    async def stats(self) -> dict[str, Any]:
        async with self.db.read() as conn:
            counts = await repo.counts(conn)
            size = await repo.database_size(conn)
        counts["head_samples"] = self._head.samples + sum(h.samples for h in self._unsaved)
        counts["wal_bytes"] = sum(p.stat().st_size for p in self.directory.glob("*.wal"))
        counts["database_bytes"] = size
        return counts
