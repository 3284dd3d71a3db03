"""Time in one convention: naive UTC datetimes inside, RFC 3339 with `Z` outside."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (what the tables store), to the microsecond."""
    return datetime.now(UTC).replace(tzinfo=None)


def rfc3339(moment: datetime | None) -> str | None:
    """`2024-01-15T10:30:00Z` for a naive-UTC or aware datetime; None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


def rfc3339_from_epoch(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    )


def parse_time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time (`Z` or an offset; none means UTC) or Unix seconds, as an
    aware UTC datetime. Raises ValueError for anything else."""
    text = text.strip()
    if text.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), UTC)
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def rfc3339_ms(ms: int) -> str:
    """Whole seconds, UTC, `Z`: the shape of every timestamp in the API (strftime: history
    replies format thousands of these)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def rfc3339_ms_all(values: Iterable[int]) -> list[str]:
    """`rfc3339_ms` of many times: a history reply's thousands of buckets fall on a few days
    and, at a rollup's width, on a few hundred times of day, each formatted once."""
    days: dict[int, str] = {}
    clock: dict[int, str] = {}
    out = []
    for ms in values:
        day, second = divmod(ms // 1000, 86_400)
        date = days.get(day)
        if date is None:
            date = days[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
        hms = clock.get(second)
        if hms is None:
            hms = clock[second] = time.strftime("%H:%M:%SZ", time.gmtime(second))
        out.append(date + hms)
    return out
