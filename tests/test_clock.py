"""The API's timestamps: many at once read exactly as one at a time."""

from __future__ import annotations

import random

from fleetdeck.clock import rfc3339_ms, rfc3339_ms_all


def test_many_timestamps_format_as_each_alone() -> None:
    rng = random.Random(3)
    edges = [0, 999, 1_000, 86_399_999, 86_400_000, -1, -86_400_001, 951_782_400_000]
    week = [1_790_000_000_000 + i * 300_000 for i in range(2_016)]  # a history reply's buckets
    spread = [rng.randrange(-(10**12), 4 * 10**12) for _ in range(5_000)]
    values = edges + week + spread
    assert rfc3339_ms_all(values) == [rfc3339_ms(v) for v in values]
    assert rfc3339_ms_all([951_782_400_000]) == ["2000-02-29T00:00:00Z"]
