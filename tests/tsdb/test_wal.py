"""The write-ahead log gives back exactly what it took, in the current format and the first."""

from __future__ import annotations

import struct
import zlib
from array import array
from pathlib import Path

import pytest

from fleetdeck.tsdb import codec, wal


def test_rows_come_back_exactly_across_records_and_layout_changes(tmp_path: Path) -> None:
    writer = wal.WalWriter(tmp_path, 0)
    batches = [
        [(1, 1_000, array("q", [5, -7, 2**62, -(2**63)])), (2, 1_000, [0, 0])],
        [(1, 6_000, array("q", [6, -7, 2**62 - 1, 2**63 - 1])), (2, 6_000, [1, -1])],
        [(1, 11_000, array("q", [6, -8, 0])), (3, 11_000, array("q", [42]))],  # 1 narrows
        [(1, 16_000, array("q", [6, -8, 1]))],
    ]
    for batch in batches:
        writer.append([wal.row_of(*sample) for sample in batch])
    path = wal.segment_path(tmp_path, 0)
    assert path.read_bytes().startswith(wal.MAGIC)
    back = [(s, ts, list(v)) for s, ts, v in wal.read_segment(path, lambda s: 0)]
    assert back == [(s, ts, list(v)) for batch in batches for s, ts, v in batch]
    # Steady rows cost almost nothing: the fourth record is one changed value.
    assert writer.bytes_written < 4 * 120


def test_a_segment_of_the_first_format_still_replays(tmp_path: Path) -> None:
    """Per-value differences from the schema's previous record, written before MAGIC."""
    path = wal.segment_path(tmp_path, 7)
    records = [
        [2, 1, 1_000, 5, -7, 9, 2, 1_000, 3],  # two samples, absolute
        [1, 1, 5_000, 1, 0, -9],  # schema 1 again: differences
    ]
    data = b""
    for numbers in records:
        payload = codec.pack_ints(numbers)
        data += struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
    path.write_bytes(data)
    widths = {1: 3, 2: 1}
    back = [(s, ts, list(v)) for s, ts, v in wal.read_segment(path, widths.__getitem__)]
    assert back == [(1, 1_000, [5, -7, 9]), (2, 1_000, [3]), (1, 6_000, [6, -7, 0])]


def test_a_failed_write_loses_nothing_once_the_batch_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full or an I/O error in the middle of a flush: the store keeps the batch and
    retries it; replay must give every row back, the retried one included."""
    writer = wal.WalWriter(tmp_path, 0)
    first = [(1, 1_000, array("q", [10, 20, 30]))]
    second = [(1, 2_000, array("q", [11, 20, 31]))]
    third = [(1, 3_000, array("q", [12, 21, 31]))]
    writer.append([wal.row_of(*s) for s in first])

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wal.os, "fsync", no_space)
    with pytest.raises(OSError):
        writer.append([wal.row_of(*s) for s in second])
    monkeypatch.undo()
    writer.append([wal.row_of(*s) for s in second])
    writer.append([wal.row_of(*s) for s in third])
    back = {
        (s, ts): list(v)
        for number in wal.segments(tmp_path)
        for s, ts, v in wal.read_segment(wal.segment_path(tmp_path, number), lambda s: 3)
    }
    assert back == {(1, 1_000): [10, 20, 30], (1, 2_000): [11, 20, 31], (1, 3_000): [12, 21, 31]}


def bursts(ticks: int) -> list[list[wal.Row]]:
    """A host of three series: a steady gauge, a rate idle but for bursts, a counter."""
    batches = []
    for i in range(ticks):
        rate = 0 if i % 3 else 1_000_000 + 7_919 * i
        row = array("q", [4_200, rate, 10 * i])
        batches.append([wal.row_of(5, 1_000 * i, row)])
    return batches


def test_series_stored_as_levels_come_back_exactly_and_cost_less(tmp_path: Path) -> None:
    """The store tells the WAL which series its last chunk held as levels (mostly zero): the
    next segment stores those whole instead of XOR-ed with the row before."""
    plain = wal.WalWriter(tmp_path / "plain", 0)
    leveled = wal.WalWriter(tmp_path / "leveled", 0)
    leveled.levels[5] = 0b010
    leveled.levels[9] = 0b111  # a schema that never comes: no harm
    for batch in bursts(60):
        plain.append(batch)
        leveled.append(batch)
    assert leveled.bytes_written < plain.bytes_written
    leveled.rotate()
    leveled.levels[5] = 0b011  # a new segment takes the new bits
    for batch in bursts(60)[:5]:
        leveled.append(batch)
    expected = [
        (s, ts, list(array("q", row.to_bytes(8 * w, "little"))))
        for batch in bursts(60)
        for s, ts, w, row in batch
    ]
    back = [
        (s, ts, list(v))
        for number in wal.segments(tmp_path / "leveled")
        for s, ts, v in wal.read_segment(wal.segment_path(tmp_path / "leveled", number), len)
    ]
    assert back == expected + expected[:5]


def test_a_segment_of_the_xor_format_still_replays(tmp_path: Path) -> None:
    """Segments of the format before levels: every row XOR-ed with the one before. Without
    levels, today's writer writes the same bytes after its own magic."""
    writer = wal.WalWriter(tmp_path, 3)
    for batch in bursts(10):
        writer.append(batch)
    path = wal.segment_path(tmp_path, 3)
    path.write_bytes(wal.MAGIC_XOR + path.read_bytes()[len(wal.MAGIC) :])
    back = [(s, ts, list(v)) for s, ts, v in wal.read_segment(path, len)]
    assert back == [
        (s, ts, list(array("q", row.to_bytes(8 * w, "little"))))
        for batch in bursts(10)
        for s, ts, w, row in batch
    ]
