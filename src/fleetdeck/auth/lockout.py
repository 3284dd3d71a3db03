"""Lockout after consecutive failures, per account and per source IP, kept in the database so
it holds across restarts and replicas. Login and password change share the counters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.errors import TooManyRequests
from fleetdeck.store import lockouts


@dataclass(frozen=True, slots=True)
class Policy:
    threshold: int
    duration: timedelta


def user_key(username: str) -> str:
    return f"user:{username.lower()}"


def ip_key(ip: str) -> str:
    return f"ip:{ip}"


def keys_for(username: str, ip: str | None) -> list[str]:
    return [user_key(username)] + ([ip_key(ip)] if ip else [])


async def ensure_open(conn: AsyncConnection, keys: list[str]) -> None:
    """Raise 429 while any of `keys` is locked (checked before the password is even looked at)."""
    now = utcnow()
    until = max(
        (r.locked_until for r in await lockouts.get_many(conn, keys) if r.locked_until),
        default=None,
    )
    if until is not None and until > now:
        wait = math.ceil((until - now).total_seconds())
        raise TooManyRequests(
            f"too many failed attempts; try again in {wait} seconds",
            code="LOCKED_OUT",
            retry_after=wait,
        )


async def record_failure(conn: AsyncConnection, policy: Policy, keys: list[str]) -> bool:
    """Count one failure on each key; True when that locked any of them."""
    now = utcnow()
    known = {r.key: r for r in await lockouts.get_many(conn, keys)}
    locked = False
    for key in keys:
        row = known.get(key)
        expired = row is not None and row.locked_until is not None and row.locked_until <= now
        failures = 1 if row is None or expired else row.failures + 1
        until: datetime | None = None
        if failures >= policy.threshold:
            until, locked = now + policy.duration, True
        await lockouts.put(conn, key, failures, until)
    return locked


async def record_success(conn: AsyncConnection, username: str) -> None:
    """A success clears the account's count (not the IP's: one good account must not reset a
    brute force on others from the same address)."""
    await lockouts.clear(conn, [user_key(username)])
