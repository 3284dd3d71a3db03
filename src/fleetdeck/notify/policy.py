"""Notification policy: resolved messages or not, reminders while an alert keeps firing, quiet
hours that hold back (not drop) non-critical messages, and grouping of messages that come
together into one per channel."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.store import settings_kv

SETTINGS_KEY = "notifications.policy"


@dataclass(frozen=True, slots=True)
class Policy:
    send_resolved: bool = True
    renotify_minutes: int = 0  # 0: no reminders
    group_seconds: int = 0  # 0: one message per transition
    quiet_enabled: bool = False
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    quiet_timezone: str = "UTC"
    quiet_allow_critical: bool = True

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, value: Any) -> Policy:
        if not isinstance(value, dict):
            return cls()
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def quiet_until(self, now: datetime, level: str) -> datetime | None:
        """When a message of `level` queued at `now` (naive UTC) may go out, if held back."""
        if not self.quiet_enabled or (level == "critical" and self.quiet_allow_critical):
            return None
        zone = ZoneInfo(self.quiet_timezone)
        local = now.replace(tzinfo=UTC).astimezone(zone)
        start, end = _clock(self.quiet_start), _clock(self.quiet_end)
        t = local.time()
        inside = (start <= t < end) if start <= end else (t >= start or t < end)
        if not inside:
            return None
        end_day = local.date() if t < end else local.date() + timedelta(days=1)
        release = datetime.combine(end_day, end, tzinfo=zone)
        return release.astimezone(UTC).replace(tzinfo=None)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


async def load(conn: AsyncConnection) -> Policy:
    return Policy.from_stored(await settings_kv.get(conn, SETTINGS_KEY))
