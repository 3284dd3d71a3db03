"""Rollups: min, max, sum and count per series and time bucket, mergeable in any order.

Spikes survive downsampling (max keeps them), and a bucket built from several pieces (a
compaction, late samples, the uncompacted head) merges exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetdeck.tsdb.codec import Stats

RESOLUTIONS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}  # bucket width, ms
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
