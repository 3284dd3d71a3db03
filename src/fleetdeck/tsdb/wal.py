"""The write-ahead log: samples reach disk within a flush interval, before they are compacted.

A segment file is a run of records `[u32 length][u32 crc32][payload]`. A record is one flush:
every sample accepted since the previous flush, as fixed-point integers. Within a segment each
schema's row of values is stored XOR-ed with its previous row (as one big integer: C speed,
where per-value differences cost a fifth of the ingest's CPU), so steady series cost almost
nothing; the first row of a schema in a segment is whole. The series its host's last chunk
stored as levels (mostly zero: `codec.encode_chunk`) are not XOR-ed: a burst of a rate
idle before and after costs one word, not two. Which ones is written with the schema's first
row in the segment. The payload is a header of (schema id, timestamp, width) per sample and
the rows, as 8-byte words shuffled (all first bytes, then all second bytes, ...) and deflated
(runs only: `codec.deflate_words`). Segments written so begin with `MAGIC`; those of the
format before (`MAGIC_XOR`, every series XOR-ed) and of the first (no magic, per-value
differences) are still read. Replay stops at the first torn or corrupt record (a crash
mid-write): only that flush is lost.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fleetdeck.tsdb.codec import deflate_words, inflate_words, unpack_ints

log = logging.getLogger(__name__)

_RECORD = struct.Struct("<II")
MAGIC = b"FDWAL\x00\x03\x00"  # XOR-ed rows but their levels (no first record is this long)
MAGIC_XOR = b"FDWAL\x00\x02\x00"  # every series XOR-ed
_LEVELS = 1 << 32  # in a header's width: the row is preceded by its levels' bits
_LANE = (1 << 64) - 1
Sample = tuple[int, int, Sequence[int]]  # schema id, timestamp ms, fixed-point values
# What is written: schema id, timestamp ms, width, and the fixed-point values as one unsigned
# little-endian integer of `width` 64-bit lanes (the store makes it once per report; the alert
# evaluator reads the same integer).
Row = tuple[int, int, int, int]


def row_of(schema_id: int, ts: int, values: Sequence[int]) -> Row:
    fixed = values if isinstance(values, array) else array("q", values)
    return schema_id, ts, len(fixed), int.from_bytes(fixed, "little")


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:012d}.wal"


def segments(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.wal") if p.stem.isdigit())


def _levels_size(width: int) -> int:
    """Bytes of a row's levels' bits: whole 64-bit words."""
    return 8 * -(-width // 64)


def _lanes(levels: int) -> int:
    """Bit i of `levels` set -> every bit of the row's 64-bit lane i set."""
    lanes = 0
    while levels:
        low = levels & -levels
        lanes |= _LANE << (64 * (low.bit_length() - 1))
        levels ^= low
    return lanes


class RowState:
    """Each schema's previous row in a segment, as one integer, on both sides, and the lanes
    of its row that are stored whole (its levels)."""

    def __init__(self, levels: dict[int, int] | None = None) -> None:
        self.previous: dict[int, tuple[int, int, int]] = {}  # schema id -> (width, row, lanes)
        self.levels = {} if levels is None else levels  # schema id -> bits, for first rows

    def encode(self, batch: Sequence[Row]) -> tuple[bytes, dict[int, tuple[int, int, int]]]:
        """The record's payload, and the rows it leaves as each schema's previous one: they
        become so (`previous.update`) only once the record is on disk."""
        header = array("q", [len(batch)])
        rows = []
        latest: dict[int, tuple[int, int, int]] = {}
        for schema_id, ts, width, row in batch:
            last = latest.get(schema_id) or self.previous.get(schema_id)
            if last is not None and last[0] == width:
                lanes = last[2]
                rows.append((row ^ (last[1] & ~lanes)).to_bytes(width * 8, "little"))
                header.extend((schema_id, ts, width))
            else:  # the schema's first row here: whole, after its levels' bits if any
                levels = self.levels.get(schema_id, 0) & ((1 << width) - 1)
                lanes = _lanes(levels)
                if levels:
                    rows.append(levels.to_bytes(_levels_size(width), "little"))
                header.extend((schema_id, ts, width | (_LEVELS if levels else 0)))
                rows.append(row.to_bytes(width * 8, "little"))
            latest[schema_id] = (width, row, lanes)
        return deflate_words(header.tobytes() + b"".join(rows), runs=True), latest

    def decode(self, payload: bytes) -> list[Sample]:
        data = inflate_words(payload)
        (count,) = struct.unpack_from("<q", data)
        header = array("q", data[8 : 8 + 24 * count])
        body = data[8 + 24 * count :]
        out: list[Sample] = []
        pos = 0
        for i in range(count):
            schema_id, ts, width = header[3 * i : 3 * i + 3]
            lanes = 0
            if width & _LEVELS:
                width &= ~_LEVELS
                size = _levels_size(width)
                lanes = _lanes(int.from_bytes(body[pos : pos + size], "little"))
                pos += size
            row = int.from_bytes(body[pos : pos + width * 8], "little")
            pos += width * 8
            last = self.previous.get(schema_id)
            if last is not None and last[0] == width:
                lanes = last[2]
                row ^= last[1] & ~lanes
            self.previous[schema_id] = (width, row, lanes)
            values = array("q", row.to_bytes(width * 8, "little"))
            out.append((schema_id, ts, values))
        return out


class DeltaState:
    """The first format's reading side: per-value differences from the schema's previous
    record (segments written before `MAGIC`)."""

    def __init__(self) -> None:
        self.previous: dict[int, tuple[int, Sequence[int]]] = {}

    def decode(self, numbers: list[int], width: Callable[[int], int]) -> list[Sample]:
        out: list[Sample] = []
        pos = 1
        for _ in range(numbers[0]):
            schema_id, dts = numbers[pos], numbers[pos + 1]
            n = width(schema_id)
            deltas = numbers[pos + 2 : pos + 2 + n]
            pos += 2 + n
            prev_ts, prev_values = self.previous.get(schema_id, (0, [0] * n))
            values = [d + p for d, p in zip(deltas, prev_values, strict=True)]
            ts = prev_ts + dts
            self.previous[schema_id] = (ts, values)
            out.append((schema_id, ts, values))
        return out


class WalWriter:
    """Appends flush records to the current segment; `rotate()` starts the next one.

    The file is opened for each append (once per flush interval), so nothing stays open
    between flushes and a crash leaves only whole files and at most one torn record.
    """

    def __init__(self, directory: Path, number: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.number = number
        self.bytes_written = 0
        # Schema id -> which of its series to store as levels in the next segments: the
        # store sets it from each host's last chunk.
        self.levels: dict[int, int] = {}
        self._state = RowState(self.levels)

    def append(self, batch: Sequence[Row]) -> None:
        """Write one record and fsync it (group commit: one fsync per flush, not per sample)."""
        payload, latest = self._state.encode(batch)
        record = _RECORD.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            with open(segment_path(self.directory, self.number), "ab") as segment:
                if segment.tell() == 0:
                    segment.write(MAGIC)
                segment.write(record)
                segment.flush()
                os.fsync(segment.fileno())
        except OSError:
            # The segment may now end in part of this record, where replay stops: the caller
            # retries the batch, and it goes to a fresh segment, its rows whole.
            self.rotate()
            raise
        self._state.previous.update(latest)
        self.bytes_written += len(record)

    def rotate(self) -> int:
        """Start the next segment; returns the number of the one just finished."""
        closed = self.number
        self.number += 1
        self._state = RowState(self.levels)
        return closed


def read_segment(path: Path, width: Callable[[int], int]) -> Iterator[Sample]:
    """Samples of one segment, in order, up to the first torn or corrupt record."""
    data = path.read_bytes()
    current = data.startswith((MAGIC, MAGIC_XOR))  # MAGIC_XOR's rows have no levels' bits
    rows, deltas = RowState(), DeltaState()
    pos = len(MAGIC) if current else 0
    while pos + _RECORD.size <= len(data):
        length, crc = _RECORD.unpack_from(data, pos)
        payload = data[pos + _RECORD.size : pos + _RECORD.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            log.warning("%s: torn or corrupt record at byte %d; the rest is skipped", path, pos)
            return
        if current:
            yield from rows.decode(payload)
        else:
            yield from deltas.decode(unpack_ints(payload), width)
        pos += _RECORD.size + length
