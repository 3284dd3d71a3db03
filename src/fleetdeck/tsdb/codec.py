"""Compact encodings for chunks of samples and for rollup rows.

Values are fixed-point integers (x100). A chunk holds one host's samples for a run of ticks
with one set of series: timestamps and each series' values are delta-encoded along time,
zigzagged so small negative steps stay small, laid out as little-endian uint64s, byte-shuffled
(all first bytes, then all second bytes, ...) so the mostly-zero high bytes form long runs, and
deflated. Shuffling and deflate run at C speed; Python touches each value only for the delta.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate
from math import floor

SCALE = 100
_LEVEL = 6
_HEADER = struct.Struct("<II")  # ticks, series

if sys.byteorder != "little":  # pragma: no cover - every Linux platform we target is little-endian
    raise ImportError("fleetdeck's time-series codec assumes a little-endian machine")


def to_fixed(values: Iterable[float]) -> array[int]:
    """Fixed-point values in an int64 array: the head keeps millions of them, and arrays are
    not containers the garbage collector walks (lists of ints are: the collector's full passes
    over the head cost a fifth of the ingest's CPU). Halves round up: floor(x + 0.5) takes
    two-thirds of the time of round(x), which rounds them to even, and this runs per sample."""
    return array("q", [floor(v * SCALE + 0.5) for v in values])


def from_fixed(value: int) -> float:
    return value / SCALE


def _zigzag_deltas(values: Sequence[int]) -> list[int]:
    out = []
    previous = 0
    for v in values:
        d = v - previous
        previous = v
        out.append((d << 1) ^ (d >> 63))
    return out


def _undo_zigzag_deltas(encoded: Sequence[int]) -> list[int]:
    out = []
    current = 0
    for z in encoded:
        current += (z >> 1) ^ -(z & 1)
        out.append(current)
    return out


def _shuffle(raw: bytes) -> bytes:
    return b"".join(raw[i::8] for i in range(8))


def _unshuffle(data: bytes, count: int) -> bytes:
    out = bytearray(count * 8)
    for i in range(8):
        out[i::8] = data[i * count : (i + 1) * count]
    return bytes(out)


def deflate_words(raw: bytes, *, runs: bool = False) -> bytes:
    """8-byte words, shuffled (all first bytes, then all second bytes, ...) so their mostly
    zero high bytes form long runs, and deflated. `runs`: deflate looks for runs only
    (`Z_RLE`), which on samples' differences (chunks, the WAL) is 3-10 % smaller than its usual
    search at a third of its CPU, and on rollup statistics a few percent larger. Any zlib
    stream inflates alike, so blobs written either way read the same."""
    if not runs:
        return zlib.compress(_shuffle(raw), _LEVEL)
    packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    return packer.compress(_shuffle(raw)) + packer.flush()


def inflate_words(blob: bytes) -> bytes:
    data = zlib.decompress(blob)
    return _unshuffle(data, len(data) // 8)


def _pack(numbers: list[int], *, runs: bool = False) -> bytes:
    return deflate_words(array("Q", numbers).tobytes(), runs=runs)


def _unpack(blob: bytes) -> list[int]:
    return list(array("Q", inflate_words(blob)))


def encode_chunk(timestamps: Sequence[int], columns: Sequence[Sequence[int]]) -> bytes:
    """timestamps (ms) and one column of fixed-point values per series, all of equal length."""
    if any(len(c) != len(timestamps) for c in columns):
        raise ValueError("every column needs one value per timestamp")
    numbers = _zigzag_deltas(timestamps)
    for column in columns:
        numbers.extend(_zigzag_deltas(column))
    return _HEADER.pack(len(timestamps), len(columns)) + _pack(numbers, runs=True)


def decode_chunk(blob: bytes) -> tuple[list[int], list[list[int]]]:
    ticks, series = _HEADER.unpack_from(blob)
    numbers = _unpack(blob[_HEADER.size :])
    timestamps = _undo_zigzag_deltas(numbers[:ticks])
    columns = [
        _undo_zigzag_deltas(numbers[(i + 1) * ticks : (i + 2) * ticks]) for i in range(series)
    ]
    return timestamps, columns


def zigzag(values: Sequence[int]) -> list[int]:
    return [(v << 1) ^ (v >> 63) for v in values]


def unzigzag(values: Sequence[int]) -> list[int]:
    return [(z >> 1) ^ -(z & 1) for z in values]


def pack_ints(values: Sequence[int]) -> bytes:
    """Any signed 64-bit integers, compactly (small magnitudes cost least)."""
    return struct.pack("<I", len(values)) + _pack(zigzag(values))


def unpack_ints(blob: bytes) -> list[int]:
    return unzigzag(_unpack(blob[4:]))  # after the count, which the length also gives


Stats = tuple[int, int, int, int]  # min, max, sum, count of fixed-point values
Block = dict[int, dict[int, Stats]]  # series id -> bucket timestamp -> stats
_BLOCK_HEADER = struct.Struct("<BIII")  # layout, buckets, series, bytes of the index
WHOLE, SPLIT = 0, 1


def _deltas(values: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip([0, *values], values, strict=False)]


def _series_numbers(per_bucket: dict[int, Stats], buckets: Sequence[int]) -> list[int]:
    """One series' stats over the block's buckets: lows (zigzagged steps along time), then
    spreads (max - min), excesses (sum - count * min) and counts, all three never negative;
    absent buckets count 0."""
    empty = (0, 0, 0, 0)
    stats = [per_bucket.get(b, empty) for b in buckets]
    return (
        zigzag(_deltas([s[0] for s in stats]))
        + [s[1] - s[0] for s in stats]
        + [s[2] - s[3] * s[0] for s in stats]
        + [s[3] for s in stats]
    )


def encode_block(block: Block, *, split: bool = False) -> bytes:
    """Rollup stats of several series over several buckets.

    Each series' numbers sit together, steps along time, so a steady series costs next to
    nothing after deflate. WHOLE packs every series into one stream (small blocks written at
    each compaction); SPLIT compresses each series on its own behind an offset table (sealed
    blocks of a day or an hour), so a query inflates only the series it asks for.
    """
    ids = sorted(block)
    buckets = sorted({b for per in block.values() for b in per})
    index = pack_ints(_deltas(buckets) + _deltas(ids))
    columns = [_series_numbers(block[sid], buckets) for sid in ids]
    if split:
        parts = [_pack_counted(c) for c in columns]
        offsets = list(accumulate((len(p) for p in parts), initial=0))
        payload = array("I", offsets).tobytes() + b"".join(parts)
    else:
        payload = _pack_counted([n for c in columns for n in c])
    layout = SPLIT if split else WHOLE
    header = _BLOCK_HEADER.pack(layout, len(buckets), len(ids), len(index))
    return header + index + payload


Columns = tuple[list[int], list[int], list[int], list[int]]  # lows, spreads, excesses, counts


def decode_block(
    blob: bytes, wanted: set[int] | None = None
) -> tuple[list[int], dict[int, Columns]]:
    """Buckets of a block and, per series (those in `wanted`, or all), its stats as columns
    aligned to them (count 0 where the series has no sample in that bucket). Only the wanted
    series are decoded, and of them only the lows need Python-level work."""
    layout, nb, ns, index_len = _BLOCK_HEADER.unpack_from(blob)
    at = _BLOCK_HEADER.size
    index = unpack_ints(blob[at : at + index_len])
    at += index_len
    buckets = list(accumulate(index[:nb]))
    ids = list(accumulate(index[nb : nb + ns]))
    picked = [(i, sid) for i, sid in enumerate(ids) if wanted is None or sid in wanted]
    out: dict[int, Columns] = {}
    if not picked:
        return buckets, out
    width = 4 * nb
    if layout == SPLIT:
        offsets = array("I", blob[at : at + 4 * (ns + 1)])
        at += 4 * (ns + 1)
        raw = {i: _unpack_counted(blob[at + offsets[i] : at + offsets[i + 1]]) for i, _ in picked}
    else:
        everything = _unpack_counted(blob[at:])
        raw = {i: everything[i * width : (i + 1) * width] for i, _ in picked}
    for i, sid in picked:
        n = raw[i]
        lows = list(accumulate(unzigzag(n[:nb])))
        out[sid] = (
            lows,
            n[nb : 2 * nb].tolist(),
            n[2 * nb : 3 * nb].tolist(),
            n[3 * nb :].tolist(),
        )
    return buckets, out


def _pack_counted(numbers: list[int]) -> bytes:
    return struct.pack("<I", len(numbers)) + _pack(numbers)


def _unpack_counted(blob: bytes) -> array[int]:
    """_pack_counted's unsigned numbers as an array (slicing it copies no Python ints)."""
    return array("Q", inflate_words(blob[4:]))


def block_from_columns(buckets: Sequence[int], series: dict[int, Columns]) -> Block:
    return {
        sid: {
            b: (lo, lo + spread, excess + count * lo, count)
            for b, lo, spread, excess, count in zip(buckets, *columns, strict=True)
            if count
        }
        for sid, columns in series.items()
    }
