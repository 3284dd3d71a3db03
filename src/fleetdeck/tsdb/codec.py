"""Compact encodings for chunks of samples and for rollup rows.

Values are fixed-point integers (x100). A chunk holds one host's samples for a run of ticks
with one set of series. Each series is divided by the greatest common divisor of its values
(a percentage with one decimal is a multiple of 10 in hundredths) and stored either as its
steps along time, zigzagged so small negative steps stay small, or, when at least a quarter of
its values are zero (a mostly idle network rate), as its levels: steps would turn every burst
into two large numbers. The words are laid out as little-endian uint64s, byte-shuffled (all
first bytes, then all second bytes, ...) so the mostly-zero high bytes form long runs, and
deflated. Shuffling and deflate run at C speed; Python touches each value only for the step.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate, repeat
from math import floor, gcd
from operator import mul

SCALE = 100
_LEVEL = 6
_HEADER = struct.Struct("<II")  # ticks, series (| DIVIDED_CHUNK: a word per series leads)
DIVIDED_CHUNK = 1 << 31
_LARGEST_DIVISOR = 1 << 62  # a divisor's word is 2 * divisor + 1 at most

if sys.byteorder != "little":  # pragma: no cover - every Linux platform we target is little-endian
    raise ImportError("fleetdeck's time-series codec assumes a little-endian machine")


def to_fixed(values: Iterable[float]) -> array[int]:
    """Fixed-point values in an int64 array: the head keeps millions of them, and arrays are
    not containers the garbage collector walks (lists of ints are: the collector's full passes
    over the head cost a fifth of the ingest's CPU). Halves round up: floor(x + 0.5) takes
    two-thirds of the time of round(x), which rounds them to even, and this runs per sample."""
    return array("q", [floor(v * SCALE + 0.5) for v in values])


def _zigzag_deltas(values: Sequence[int], divisor: int = 1) -> list[int]:
    """Steps along time (from 0), divided by `divisor` (which divides every value), zigzagged."""
    out = []
    previous = 0
    if divisor == 1:
        for v in values:
            d = v - previous
            previous = v
            out.append((d << 1) ^ (d >> 63))
    else:
        for v in values:
            d = (v - previous) // divisor
            previous = v
            out.append((d << 1) ^ (d >> 63))
    return out


def _undo_zigzag_deltas(encoded: Sequence[int], divisor: int = 1) -> list[int]:
    out = []
    current = 0
    if divisor == 1:
        for z in encoded:
            current += (z >> 1) ^ -(z & 1)
            out.append(current)
    else:
        for z in encoded:
            current += ((z >> 1) ^ -(z & 1)) * divisor
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


def _common_divisor(*numbers: int) -> int:
    """The numbers' greatest common divisor (C speed), 1 when there is none to divide by or
    it would not fit its word."""
    divisor = gcd(*numbers)  # 0 when every number is
    return divisor if 1 < divisor <= _LARGEST_DIVISOR else 1


def encode_chunk(timestamps: Sequence[int], columns: Sequence[Sequence[int]]) -> tuple[bytes, int]:
    """timestamps (ms) and one column of fixed-point values per series, all of equal length:
    the chunk, and which series it stores as levels (bit i set for column i). The WAL stores
    the same series of the host as levels too (`wal.RowState`)."""
    ticks = len(timestamps)
    if any(len(c) != ticks for c in columns):
        raise ValueError("every column needs one value per timestamp")
    words = []
    parts = []
    levels = 0
    for i, column in enumerate(columns):
        divisor = _common_divisor(*column)
        if ticks and column.count(0) * 4 >= ticks and min(column) >= 0:
            levels |= 1 << i
            words.append(2 * divisor + 1)
            scaled = column if divisor == 1 else [v // divisor for v in column]
            parts.append(array("q", scaled).tobytes())
        else:
            words.append(2 * divisor)
            parts.append(array("Q", _zigzag_deltas(column, divisor)).tobytes())
    words.extend(_zigzag_deltas(timestamps))
    raw = array("Q", words).tobytes() + b"".join(parts)
    header = _HEADER.pack(ticks, len(columns) | DIVIDED_CHUNK)
    return header + deflate_words(raw, runs=True), levels


def decode_chunk(blob: bytes) -> tuple[list[int], list[list[int]]]:
    ticks, series = _HEADER.unpack_from(blob)
    if not series & DIVIDED_CHUNK:  # written before the per-series word (steps, no divisor)
        numbers = _unpack(blob[_HEADER.size :])
        timestamps = _undo_zigzag_deltas(numbers[:ticks])
        columns = [
            _undo_zigzag_deltas(numbers[(i + 1) * ticks : (i + 2) * ticks]) for i in range(series)
        ]
        return timestamps, columns
    series &= ~DIVIDED_CHUNK
    words = array("Q", inflate_words(blob[_HEADER.size :]))
    timestamps = _undo_zigzag_deltas(words[series : series + ticks])
    columns = []
    at = series + ticks
    for word in words[:series]:
        divisor, as_levels = word >> 1, word & 1
        part = words[at : at + ticks]
        at += ticks
        if as_levels:
            column = part.tolist()
            columns.append(column if divisor == 1 else [v * divisor for v in column])
        else:
            columns.append(_undo_zigzag_deltas(part, divisor))
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
DIVIDED = 2  # in the layout: the index ends with a divisor per series


def _deltas(values: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip([0, *values], values, strict=False)]


def _series_numbers(per_bucket: dict[int, Stats], buckets: Sequence[int]) -> tuple[int, list[int]]:
    """One series' stats over the block's buckets, divided by their greatest common divisor
    (returned first): lows (zigzagged steps along time), then spreads (max - min), excesses
    (sum - count * min) and counts, all three never negative; absent buckets count 0."""
    empty = (0, 0, 0, 0)
    stats = [per_bucket.get(b, empty) for b in buckets]
    lows = [s[0] for s in stats]
    spreads = [s[1] - s[0] for s in stats]
    excesses = [s[2] - s[3] * s[0] for s in stats]
    divisor = _common_divisor(*lows, *spreads, *excesses)
    if divisor > 1:
        lows = [n // divisor for n in lows]
        spreads = [n // divisor for n in spreads]
        excesses = [n // divisor for n in excesses]
    return divisor, zigzag(_deltas(lows)) + spreads + excesses + [s[3] for s in stats]


def encode_block(block: Block, *, split: bool = False) -> bytes:
    """Rollup stats of several series over several buckets.

    Each series' numbers sit together, steps along time, so a steady series costs next to
    nothing after deflate; each is divided by its greatest common divisor, kept in the index.
    WHOLE packs every series into one stream (small blocks written at each compaction); SPLIT
    compresses each series on its own behind an offset table (sealed blocks of a day or an
    hour), so a query inflates only the series it asks for.
    """
    ids = sorted(block)
    buckets = sorted({b for per in block.values() for b in per})
    divisors, columns = zip(*(_series_numbers(block[sid], buckets) for sid in ids), strict=True)
    index = pack_ints(_deltas(buckets) + _deltas(ids) + list(divisors))
    if split:
        parts = [_pack_counted(c) for c in columns]
        offsets = list(accumulate((len(p) for p in parts), initial=0))
        payload = array("I", offsets).tobytes() + b"".join(parts)
    else:
        payload = _pack_counted([n for c in columns for n in c])
    layout = (SPLIT if split else WHOLE) | DIVIDED
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
    divisors = index[nb + ns : nb + 2 * ns] if layout & DIVIDED else [1] * ns
    if layout & SPLIT:
        offsets = array("I", blob[at : at + 4 * (ns + 1)])
        at += 4 * (ns + 1)
        raw = {i: _unpack_counted(blob[at + offsets[i] : at + offsets[i + 1]]) for i, _ in picked}
    else:
        everything = _unpack_counted(blob[at:])
        raw = {i: everything[i * width : (i + 1) * width] for i, _ in picked}
    for i, sid in picked:
        n = raw[i]
        divisor = divisors[i]
        if divisor == 1:
            out[sid] = (
                list(accumulate(unzigzag(n[:nb]))),
                n[nb : 2 * nb].tolist(),
                n[2 * nb : 3 * nb].tolist(),
                n[3 * nb :].tolist(),
            )
            continue
        scale = repeat(divisor)
        out[sid] = (
            list(map(mul, accumulate(unzigzag(n[:nb])), scale)),
            list(map(mul, n[nb : 2 * nb], scale)),
            list(map(mul, n[2 * nb : 3 * nb], scale)),
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
