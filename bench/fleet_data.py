"""Synthetic but realistic host series for the store benchmarks.

Per host, 100 series shaped like what the collector stores: 10 CPU-like percentages (random
walk, 1 decimal), 20 rates (mostly idle, bursts up to MB/s, 1 decimal), 30 slow gauges
(memory/disk %, 2 decimals, small drifts), 40 near-constant ones (load, temperatures, counts
that rarely change).
"""

from __future__ import annotations

import random

SERIES = 100
KEYS = (
    [f"cpu.core[{i}]" for i in range(10)]
    + [f"net.rx[eth{i}]" for i in range(20)]
    + [f"disk[/m{i}]" for i in range(30)]
    + [f"temp[s{i}]" for i in range(40)]
)


class Host:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        r = self.rng
        self.cpu = [r.uniform(1, 60) for _ in range(10)]
        self.gauges = [r.uniform(5, 95) for _ in range(30)]
        self.consts = [round(r.uniform(20, 80), 1) for _ in range(40)]

    def tick(self) -> list[float]:
        r = self.rng
        self.cpu = [min(100.0, max(0.0, c + r.gauss(0, 3))) for c in self.cpu]
        rates = [
            round(r.expovariate(1 / 200_000), 1) if r.random() < 0.3 else 0.0 for _ in range(20)
        ]
        self.gauges = [g + r.gauss(0, 0.02) if r.random() < 0.5 else g for g in self.gauges]
        if r.random() < 0.1:
            i = r.randrange(40)
            self.consts[i] = round(self.consts[i] + r.choice((-0.5, 0.5)), 1)
        return (
            [round(c, 1) for c in self.cpu]
            + rates
            + [round(g, 2) for g in self.gauges]
            + list(self.consts)
        )
