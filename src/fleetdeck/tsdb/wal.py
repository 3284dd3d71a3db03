"""The write-ahead log: samples reach disk within a flush interval, before they are compacted.

A segment file is a run of records `[u32 length][u32 crc32][payload]`. A record is one flush:
every sample accepted since the previous flush, as fixed-point integers. Within a segment a
schema's timestamp and values are stored as differences from its previous record, so steady
series cost almost nothing; the first record of a schema in a segment is absolute. Replay stops
at the first torn or corrupt record (a crash mid-write): only that flush is lost.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fleetdeck.tsdb.codec import pack_ints, unpack_ints

log = logging.getLogger(__name__)

_RECORD = struct.Struct("<II")
Sample = tuple[int, int, Sequence[int]]  # schema id, timestamp ms, fixed-point values


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:012d}.wal"


def segments(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.wal") if p.stem.isdigit())


class DeltaState:
    """What a segment's previous record held per schema, on both the writing and reading side."""

    def __init__(self) -> None:
        self.previous: dict[int, tuple[int, Sequence[int]]] = {}

    def encode(self, batch: Sequence[Sample]) -> list[int]:
        numbers = [len(batch)]
        for schema_id, ts, values in batch:
            prev_ts, prev_values = self.previous.get(schema_id, (0, [0] * len(values)))
            if len(prev_values) != len(values):
                prev_values = [0] * len(values)
            numbers.append(schema_id)
            numbers.append(ts - prev_ts)
            numbers.extend(v - p for v, p in zip(values, prev_values, strict=True))
            self.previous[schema_id] = (ts, values)
        return numbers

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
        self._state = DeltaState()

    def append(self, batch: Sequence[Sample]) -> None:
        """Write one record and fsync it (group commit: one fsync per flush, not per sample)."""
        payload = pack_ints(self._state.encode(batch))
        record = _RECORD.pack(len(payload), zlib.crc32(payload)) + payload
        with open(segment_path(self.directory, self.number), "ab") as segment:
            segment.write(record)
            segment.flush()
            os.fsync(segment.fileno())
        self.bytes_written += len(record)

    def rotate(self) -> int:
        """Start the next segment; returns the number of the one just finished."""
        closed = self.number
        self.number += 1
        self._state = DeltaState()
        return closed


def read_segment(path: Path, width: Callable[[int], int]) -> Iterator[Sample]:
    """Samples of one segment, in order, up to the first torn or corrupt record."""
    data = path.read_bytes()
    state = DeltaState()
    pos = 0
    while pos + _RECORD.size <= len(data):
        length, crc = _RECORD.unpack_from(data, pos)
        payload = data[pos + _RECORD.size : pos + _RECORD.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            log.warning("%s: torn or corrupt record at byte %d; the rest is skipped", path, pos)
            return
        yield from state.decode(unpack_ints(payload), width)
        pos += _RECORD.size + length
