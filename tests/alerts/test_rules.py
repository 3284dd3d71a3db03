"""A rule's levels, as `level_for` says and as the evaluator steps them inline."""

from __future__ import annotations

import math

import pytest

from fleetdeck.alerts.rules import COMPARISONS, Rule


def _values_around(*levels: float) -> list[float]:
    values = [0.0, -1.0, 1e9, -1e9, math.inf, -math.inf, math.nan]
    for level in levels:
        values += [level, math.nextafter(level, math.inf), math.nextafter(level, -math.inf)]
    return values


@pytest.mark.parametrize("comparison", sorted(COMPARISONS))
@pytest.mark.parametrize(
    ("warning", "critical"), [(70.0, 90.0), (90.0, 70.0), (70.0, None), (None, 90.0), (-5.5, 0.0)]
)
def test_the_one_way_form_gives_the_level_of_level_for(
    comparison: str, warning: float | None, critical: float | None
) -> None:
    rule = Rule(
        id="r", name="r", metric="temp", comparison=comparison, warning=warning,
        critical=critical, for_seconds=0, hysteresis=0.0,
    )  # fmt: skip
    sign, over_critical, over_warning = rule.one_way
    levels = [v for v in (warning, critical) if v is not None]
    for value in _values_around(*levels):
        one_way = sign * value
        level = (
            "critical" if one_way > over_critical else "warning" if one_way > over_warning else None
        )
        assert level == rule.level_for(value), (comparison, warning, critical, value)
