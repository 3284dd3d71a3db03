"""Rollups: min, max, sum and count per series and time bucket, mergeable in any order.

Spikes survive downsampling (max keeps them), and a bucket built from several pieces (a
compaction, late samples, the uncompacted head) merges exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetdeck.tsdb.codec import Block, Stats

RESOLUTIONS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}  # bucket width, ms
COARSE = {"5m": RESOLUTIONS["5m"], "1h": RESOLUTIONS["1h"]}  # derived from the 1m tier
HOUR, DAY = 3_600_000, 86_400_000
BucketStats = dict[int, Stats]  # series id -> (min, max, sum, count)


def bucket_of(ts: int, width: int) -> int:
    return ts - ts % width


def merge_stats(a: Stats, b: Stats) -> Stats:
    return (min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2], a[3] + b[3])


def merge_into(target: BucketStats, other: BucketStats) -> None:
    for series_id, stats in other.items():
        current = target.get(series_id)
        target[series_id] = stats if current is None else merge_stats(current, stats)


def from_columns(
    timestamps: Sequence[int],
    columns: Sequence[Sequence[int]],
    series_ids: Sequence[int],
    width: int,
) -> dict[int, BucketStats]:
    """Bucket stats of a chunk; timestamps ascending. min/max/sum run over slices in C."""
    buckets: dict[int, BucketStats] = {}
    start = 0
    n = len(timestamps)
    while start < n:
        bucket = bucket_of(timestamps[start], width)
        end = start
        while end < n and timestamps[end] < bucket + width:
            end += 1
        stats = buckets.setdefault(bucket, {})
        for series_id, column in zip(series_ids, columns, strict=True):
            part = column[start:end]
            piece = (min(part), max(part), sum(part), end - start)
            current = stats.get(series_id)
            stats[series_id] = piece if current is None else merge_stats(current, piece)
        start = end
    return buckets


def add_to_block(block: Block, buckets: dict[int, BucketStats]) -> None:
    """Merge bucket -> (series -> stats) into a block (series -> bucket -> stats)."""
    for bucket, stats in buckets.items():
        for series_id, piece in stats.items():
            per = block.setdefault(series_id, {})
            current = per.get(bucket)
            per[bucket] = piece if current is None else merge_stats(current, piece)


def split_by_period(block: Block, period: int) -> dict[int, Block]:
    """The block cut at `period` boundaries: period start -> the part inside it."""
    parts: dict[int, Block] = {}
    for series_id, per in block.items():
        for bucket, stats in per.items():
            part = parts.setdefault(bucket_of(bucket, period), {})
            part.setdefault(series_id, {})[bucket] = stats
    return parts


def block_span(block: Block) -> tuple[int, int, int]:
    """First bucket, last bucket and samples counted in a block."""
    buckets = [b for per in block.values() for b in per]
    samples = sum(s[3] for per in block.values() for s in per.values())
    return min(buckets), max(buckets), samples


def merge_blocks(target: Block, other: Block) -> None:
    for series_id, per in other.items():
        mine = target.setdefault(series_id, {})
        for bucket, stats in per.items():
            current = mine.get(bucket)
            mine[bucket] = stats if current is None else merge_stats(current, stats)


def rebucket(block: Block, width: int) -> Block:
    """The same stats in coarser buckets (`width` a multiple of the block's)."""
    out: Block = {}
    for series_id, per in block.items():
        coarse: dict[int, Stats] = {}
        for bucket, stats in per.items():
            key = bucket - bucket % width
            current = coarse.get(key)
            coarse[key] = stats if current is None else merge_stats(current, stats)
        out[series_id] = coarse
    return out
