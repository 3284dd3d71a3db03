"""The shape every collector follows, and a helper for rates from counters."""

from __future__ import annotations

import time
from typing import Any, Protocol


class Collector(Protocol):
    """Reads one section of the snapshot (`key`) each time `collect()` is called.

    `heavy` collectors (processes, containers, services) run at every tick only while someone
    watches the host live, at a slower cadence otherwise; the snapshot repeats their last result.
    """

    key: str
    heavy: bool

    def collect(self) -> Any: ...


class RateTracker:
    """Per-name counters turned into per-second rates from the previous reading (no sleeping)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, tuple[int, ...]]] = {}

    def rates(self, name: str, counters: tuple[int, ...]) -> tuple[float, ...]:
        now = time.monotonic()
        previous = self._last.get(name)
        self._last[name] = (now, counters)
        if previous is None or now <= previous[0]:
            return tuple(0.0 for _ in counters)
        elapsed = now - previous[0]
        # A counter that went backwards was reset (device re-added, wrap): report 0, not negative.
        return tuple(
            round(max(0, c - p) / elapsed, 1) for c, p in zip(counters, previous[1], strict=True)
        )

    def forget_except(self, names: set[str]) -> None:
        for gone in set(self._last) - names:
            del self._last[gone]
