"""Rollup blocks decode to exactly what was encoded, whole or series by series; values become
fixed-point hundredths."""

from __future__ import annotations

import zlib

import pytest

from fleetdeck.tsdb import codec

BLOCK: codec.Block = {
    3: {60_000: (100, 250, 700, 4), 120_000: (-50, 10, -90, 3)},
    7: {0: (0, 0, 0, 1), 120_000: (1_000_000, 2_000_000, 9_000_000, 6)},
    9: {60_000: (5, 5, 60, 12)},
}


@pytest.mark.parametrize("split", [False, True])
def test_a_block_round_trips_with_absent_buckets(split: bool) -> None:
    buckets, series = codec.decode_block(codec.encode_block(BLOCK, split=split))
    assert buckets == [0, 60_000, 120_000]
    assert series[3] == ([0, 100, -50], [0, 150, 60], [0, 300, 60], [0, 4, 3])
    assert codec.block_from_columns(buckets, series) == BLOCK


@pytest.mark.parametrize("split", [False, True])
def test_only_wanted_series_are_decoded(split: bool) -> None:
    blob = codec.encode_block(BLOCK, split=split)
    _, series = codec.decode_block(blob, {7, 42})
    assert codec.block_from_columns([0, 60_000, 120_000], series) == {7: BLOCK[7]}
    assert codec.decode_block(blob, {42}) == ([0, 60_000, 120_000], {})


def test_a_chunk_round_trips() -> None:
    timestamps = [1000, 2000, 2999, 4000]
    columns = [[1, -2, 3, 400_000], [0, 0, 0, 0]]
    assert codec.decode_chunk(codec.encode_chunk(timestamps, columns)) == (timestamps, columns)


def test_chunks_written_before_runs_only_deflate_still_read() -> None:
    """Chunks and WAL records deflate looking for runs only; those of earlier releases, with
    deflate's usual search, decode to the same samples."""
    timestamps = [1_790_000_000_000 + 5_000 * i for i in range(60)]
    columns = [[(i * 37) % 900 for i in range(60)], [0] * 59 + [7], [10**12 - i for i in range(60)]]
    blob = codec.encode_chunk(timestamps, columns)
    header = blob[: codec._HEADER.size]
    words = zlib.decompress(blob[codec._HEADER.size :])
    earlier = header + zlib.compress(words, 6)  # the same shuffled words, the usual search
    assert earlier != blob
    assert codec.decode_chunk(earlier) == codec.decode_chunk(blob) == (timestamps, columns)


def test_fixed_point_rounds_to_the_nearest_hundredth_on_both_sides_of_zero() -> None:
    values = [1.234, -1.234, 1.236, -1.236, 0.004, -0.004, 1e15, -1e15]
    assert list(codec.to_fixed(values)) == [123, -123, 124, -124, 0, 0, 10**17, -(10**17)]
    assert list(codec.to_fixed([0.125, -0.125])) == [13, -12]  # halves go up
