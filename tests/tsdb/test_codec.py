"""Rollup blocks decode to exactly what was encoded, whole or series by series; values become
fixed-point hundredths."""

from __future__ import annotations

import zlib
from array import array

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


BEFORE_DIVISORS = {  # BLOCK as releases before the per-series divisor wrote it
    False: "0003000000030000001c00000006000000789c633870808d8385e1ca1506206064642004008c63033d"
    "24000000789c6338a1cd30cd8641c78681859981a18181c18181e10023031b0317270304f0003123038c60"
    "6068616070626038c6800fc83130f03330e8e25533340000e2c705c3",
    True: "0103000000030000001c00000006000000789c633870808d8385e1ca1506206064642004008c63033d"
    "00000000210000004e000000630000000c000000789c6338a1cd30cd8641c78681859981819181014a500b"
    "0000cc8002370c000000789c636068606070606038c0c8c0c6c0d0c2c0e0c4c0708c0104e41818f8191874"
    "192803001b53036e0c000000789c63e0e26480001e065a00000b6c0020",
}


@pytest.mark.parametrize("split", [False, True])
def test_blocks_written_before_divisors_still_read(split: bool) -> None:
    buckets, series = codec.decode_block(bytes.fromhex(BEFORE_DIVISORS[split]))
    assert codec.block_from_columns(buckets, series) == BLOCK
    _, series = codec.decode_block(bytes.fromhex(BEFORE_DIVISORS[split]), {7})
    assert codec.block_from_columns(buckets, series) == {7: BLOCK[7]}


@pytest.mark.parametrize("split", [False, True])
def test_a_series_of_tenths_costs_what_the_same_in_units_does(split: bool) -> None:
    """Percentages with one decimal are multiples of 10 in hundredths: divided before they
    are stored, they cost no more than the same numbers would in units."""
    units: codec.Block = {
        1: {60_000 * i: (i % 7, 9 + i % 3, 12 * (i % 7) + 5, 12) for i in range(60)},
        2: {60_000 * i: (40 + i // 9, 41 + i // 9, 12 * (40 + i // 9) + 3, 12) for i in range(60)},
    }
    tenths = {
        sid: {b: (lo * 10, hi * 10, total * 10, n) for b, (lo, hi, total, n) in per.items()}
        for sid, per in units.items()
    }
    blob = codec.encode_block(tenths, split=split)
    assert codec.block_from_columns(*codec.decode_block(blob)) == tenths
    assert len(blob) <= len(codec.encode_block(units, split=split)) + 2


def test_a_chunk_round_trips() -> None:
    timestamps = [1000, 2000, 2999, 4000]
    columns = [[1, -2, 3, 400_000], [0, 0, 0, 0]]
    assert codec.decode_chunk(codec.encode_chunk(timestamps, columns)[0]) == (timestamps, columns)


EXTREMES = [
    [-(2**63), -(2**63), -(2**63)],  # a divisor too large for its word
    [2**63 - 1, 2**63 - 1, 2**63 - 1],
    [2**62, 0, 2**62],  # levels with a divisor of 2**62
    [0, 0, 7],
    [-30, 0, 0],  # mostly zero but negative: steps
    [10**15, -(10**15), 10**15],  # steps with a divisor of 10**15
]


@pytest.mark.parametrize("column", EXTREMES)
def test_a_chunk_round_trips_at_the_edges_of_its_words(column: list[int]) -> None:
    timestamps = [1000, 2000, 3000]
    assert codec.decode_chunk(codec.encode_chunk(timestamps, [column])[0]) == (timestamps, [column])


def test_series_mostly_at_zero_are_stored_as_levels_and_others_as_steps() -> None:
    """A rate idle in most ticks costs one number per burst as levels, two as steps; a random
    walk costs a small step each tick. Both in hundredths with one decimal: divided by 10."""
    ticks = 60
    rate = [0] * ticks
    for i in range(3, ticks, 7):
        rate[i] = 1_234_560 + 10 * i
    walk = [5_000 + 10 * ((i * 7) % 5 - 2) * i for i in range(ticks)]
    timestamps = [5_000 * i for i in range(ticks)]
    blob, levels = codec.encode_chunk(timestamps, [walk, rate, [0] * ticks])
    assert levels == 0b110
    assert codec.decode_chunk(blob) == (timestamps, [walk, rate, [0] * ticks])
    # The format before: every series as its steps, undivided.
    columns = [timestamps, walk, rate, [0] * ticks]
    steps = [n for column in columns for n in codec._zigzag_deltas(column)]
    before = codec.deflate_words(array("Q", steps).tobytes(), runs=True)
    assert len(blob) < 0.8 * (codec._HEADER.size + len(before))


def test_chunks_of_the_format_before_divisors_still_read() -> None:
    """Written by releases before each series got its divisor and levels-or-steps word."""
    blob = bytes.fromhex(
        "04000000030000007801bb70e1dc252656ae5f0c4020c02022cc0e040c0c0c260c40a0ce00073c0c"
        "34020067660506"
    )
    assert codec.decode_chunk(blob) == (
        [1000, 2000, 2999, 4000],
        [[1, -2, 3, 400_000], [0, 0, 0, 0], [5000, 5000, 5010, 5000]],
    )


def test_chunks_written_before_runs_only_deflate_still_read() -> None:
    """Chunks and WAL records deflate looking for runs only; those of earlier releases, with
    deflate's usual search, decode to the same samples."""
    timestamps = [1_790_000_000_000 + 5_000 * i for i in range(60)]
    columns = [[(i * 37) % 900 for i in range(60)], [0] * 59 + [7], [10**12 - i for i in range(60)]]
    blob, _ = codec.encode_chunk(timestamps, columns)
    header = blob[: codec._HEADER.size]
    words = zlib.decompress(blob[codec._HEADER.size :])
    earlier = header + zlib.compress(words, 6)  # the same shuffled words, the usual search
    assert earlier != blob
    assert codec.decode_chunk(earlier) == codec.decode_chunk(blob) == (timestamps, columns)


def test_fixed_point_rounds_to_the_nearest_hundredth_on_both_sides_of_zero() -> None:
    values = [1.234, -1.234, 1.236, -1.236, 0.004, -0.004, 1e15, -1e15]
    assert list(codec.to_fixed(values)) == [123, -123, 124, -124, 0, 0, 10**17, -(10**17)]
    assert list(codec.to_fixed([0.125, -0.125])) == [13, -12]  # halves go up
