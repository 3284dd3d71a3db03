"""Alert rules: a series (or a family of them), a comparison, warning and critical levels, how
long the condition must hold before firing, and how far back it must come before resolving."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from fleetdeck.tsdb.series import family

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
LEVELS = ("warning", "critical")
SCOPES = ("all", "group", "host")

# Tyto's global thresholds, as rules: (id, name, metric, warning, critical).
BUILTIN = (
    ("cpu", "CPU usage", "cpu", 80.0, 95.0),
    ("memory", "Memory usage", "memory", 85.0, 95.0),
    ("disk", "Disk usage", "disk", 80.0, 90.0),
)
BUILTIN_FOR_SECONDS = 60
BUILTIN_HYSTERESIS = 5.0


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    metric: str
    comparison: str
    warning: float | None
    critical: float | None
    for_seconds: int
    hysteresis: float
    scope: str = "all"
    scope_value: str | None = None
    enabled: bool = True
    builtin: bool = False

    @property
    def family(self) -> str:
        return family(self.metric)

    def threshold(self, level: str) -> float:
        value = self.critical if level == "critical" else self.warning
        assert value is not None
        return value

    @property
    def clears_at(self) -> float:
        """The level past which a value crosses neither level: the lower one of `>` and `>=`
        rules, the higher one of `<` and `<=` ones."""
        levels = [v for v in (self.warning, self.critical) if v is not None]
        if self.comparison in (">", ">="):
            return min(levels, default=math.inf)
        return max(levels, default=-math.inf)

    @property
    def one_way(self) -> tuple[float, float, float]:
        """(sign, critical, warning) such that `sign * value > critical` exactly when the value
        crosses the critical level, and likewise the warning one (an absent level is inf): every
        comparison as one `>` (`v >= c` is `v > ` the float below c, `v < c` is `-v > -c`), for
        a caller that steps many rules inline (the evaluator)."""
        sign = 1.0 if self.comparison in (">", ">=") else -1.0
        inclusive = self.comparison in (">=", "<=")

        def bound(level: float | None) -> float:
            if level is None:
                return math.inf
            return math.nextafter(sign * level, -math.inf) if inclusive else sign * level

        return sign, bound(self.critical), bound(self.warning)

    def level_for(self, value: float) -> str | None:
        """The level `value` crosses right now, or None."""
        crosses = COMPARISONS[self.comparison]
        if self.critical is not None and crosses(value, self.critical):
            return "critical"
        if self.warning is not None and crosses(value, self.warning):
            return "warning"
        return None

    def holds(self, value: float, level: str) -> bool:
        """Whether an alert at `level` stays: it goes only once `value` is back past the
        threshold by the hysteresis."""
        margin = self.hysteresis if self.comparison in (">", ">=") else -self.hysteresis
        return COMPARISONS[self.comparison](value, self.threshold(level) - margin)
