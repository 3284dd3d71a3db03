"""`cpu`: per-core usage and frequency, total usage and load average, from one /proc/stat read."""

from __future__ import annotations

import os
from typing import Any

import psutil


def _busy_total(times: Any) -> tuple[float, float]:
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuCollector:
    key = "cpu"
    heavy = False

    def __init__(self) -> None:
        self._last: list[tuple[float, float]] = []

    def _usage(self) -> tuple[list[float], float]:
        current = [_busy_total(t) for t in psutil.cpu_times(percpu=True)]
        previous = self._last if len(self._last) == len(current) else [(0.0, 0.0)] * len(current)
        self._last = current
        per_core = []
        busy_sum = total_sum = 0.0
        for (busy, total), (pbusy, ptotal) in zip(current, previous, strict=True):
            d_busy, d_total = busy - pbusy, total - ptotal
            busy_sum += max(d_busy, 0.0)
            total_sum += max(d_total, 0.0)
            per_core.append(round(100.0 * d_busy / d_total, 1) if d_total > 0 else 0.0)
        total_usage = round(100.0 * busy_sum / total_sum, 1) if total_sum > 0 else 0.0
        return per_core, total_usage

    @staticmethod
    def _frequencies(count: int) -> list[float]:
        try:
            freqs = psutil.cpu_freq(percpu=True) or []
        except (OSError, NotImplementedError):
            freqs = []
        values: list[float] = [round(f.current) for f in freqs]
        if len(values) == count:
            return values
        fill = values[0] if values else 0
        return [fill] * count

    def collect(self) -> dict[str, object]:
        per_core, total = self._usage()
        freqs = self._frequencies(len(per_core))
        one, five, fifteen = os.getloadavg()
        return {
            "cores": [
                {"id": i, "usage": u, "frequency": f}
                for i, (u, f) in enumerate(zip(per_core, freqs, strict=True))
            ],
            "totalUsage": total,
            "loadAverage": {
                "one": round(one, 2),
                "five": round(five, 2),
                "fifteen": round(fifteen, 2),
            },
        }
