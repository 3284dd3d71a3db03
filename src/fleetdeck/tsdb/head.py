"""The head: samples accepted since the last compaction, in memory, per schema."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass
class Buffer:
    host: str
    timestamps: list[int] = field(default_factory=list)
    rows: list[Sequence[int]] = field(default_factory=list)  # int64 arrays from ingest
    ordered: bool = True

    def add(self, ts: int, values: Sequence[int]) -> None:
        if self.timestamps and ts <= self.timestamps[-1]:
            self.ordered = False
        self.timestamps.append(ts)
        self.rows.append(values)

    def sorted_columns(self) -> tuple[list[int], list[list[int]]]:
        """Timestamps ascending (a repeated timestamp keeps its last values) and columns."""
        if self.ordered:
            pairs = list(zip(self.timestamps, self.rows, strict=True))
        else:
            pairs = sorted(dict(zip(self.timestamps, self.rows, strict=True)).items())
        timestamps = [ts for ts, _ in pairs]
        columns = [list(col) for col in zip(*(row for _, row in pairs), strict=True)]
        return timestamps, columns


class Head:
    def __init__(self) -> None:
        self.buffers: dict[int, Buffer] = {}
        self.samples = 0

    def add(self, schema_id: int, host: str, ts: int, values: Sequence[int]) -> None:
        buffer = self.buffers.get(schema_id)
        if buffer is None:
            buffer = self.buffers[schema_id] = Buffer(host)
        buffer.add(ts, values)
        self.samples += len(values)

    def oldest(self) -> int | None:
        """The earliest timestamp held, or None when empty."""
        firsts = [
            (b.timestamps[0] if b.ordered else min(b.timestamps))
            for b in self.buffers.values()
            if b.timestamps
        ]
        return min(firsts, default=None)

    def for_host(self, host: str) -> Iterator[tuple[int, Buffer]]:
        for schema_id, buffer in self.buffers.items():
            if buffer.host == host and buffer.timestamps:
                yield schema_id, buffer
