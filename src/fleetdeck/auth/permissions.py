"""Permissions are `resource:action` strings; grants may use `*` and `resource:*` wildcards.

The catalogue below is the single list of permissions fleetdeck checks; `docs/security.md`
lists each one (a test keeps them in step).
"""

from __future__ import annotations

from collections.abc import Iterable

PERMISSIONS: dict[str, str] = {
    "metrics:read": "See live metrics of hosts (stream, snapshots).",
    "processes:read": "See process details.",
    "processes:signal": "Send signals to processes.",
    "settings:read": "See server settings such as the refresh interval.",
    "settings:write": "Change server settings such as the refresh interval.",
}

# (id, name, description, permissions). Written to the roles table at every start.
SYSTEM_ROLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("admin", "Administrator", "Full system access", ("*",)),
    (
        "operator",
        "Operator",
        "Watch hosts and act on them",
        ("metrics:read", "processes:*", "settings:read"),
    ),
    ("viewer", "Viewer", "Read-only access to monitoring data", ("metrics:read", "processes:read")),
)


def grants(granted: Iterable[str], needed: str) -> bool:
    """True when any grant covers `needed` (exactly, by `*`, or by `resource:*`)."""
    resource = needed.split(":", 1)[0]
    for grant in granted:
        if grant == "*" or grant == needed or grant == f"{resource}:*":
            return True
    return False
