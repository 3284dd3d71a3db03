"""Time in one convention: naive UTC datetimes inside, RFC 3339 with `Z` outside."""

from __future__ import annotations

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
