"""States that are not stored as metrics but can be alerted on, as 1/0 series: a systemd unit
active or not, a container running or not. A rule `service.active[nginx.service] < 1` fires
when nginx stops; `container.running < 1` watches every container; `host.online < 1` fires
when an agent goes offline (fleet/hub.py feeds it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fleetdeck.tsdb.series import key

STATE_FAMILIES: dict[str, str] = {
    "service.active": "1 while the systemd unit is active, 0 otherwise (label: unit name)",
    "container.running": "1 while the container is running, 0 otherwise (label: name)",
    "host.online": "1 while an agent reports, 0 once it missed 3 intervals (rule: < 1)",
}


def from_snapshot(snap: dict[str, Any]) -> Iterator[tuple[str, float]]:
    for service in (snap.get("systemd") or {}).get("services") or ():
        yield key("service.active", service["name"]), 1.0 if service["state"] == "active" else 0.0
    for container in (snap.get("docker") or {}).get("containers") or ():
        running = container.get("status") == "running"
        yield key("container.running", container["name"]), 1.0 if running else 0.0


def with_extra(
    snap: dict[str, Any], extra: tuple[tuple[str, float], ...]
) -> Sequence[tuple[str, float]]:
    """The snapshot's states, then `extra`; `extra` itself when there are no states, so a
    caller that passes the same tuple each time can tell "the same as last time" by identity."""
    if not (snap.get("systemd") or snap.get("docker")):
        return extra
    return [*from_snapshot(snap), *extra]
