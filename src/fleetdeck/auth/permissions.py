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
    "users:read": "List users and see their roles.",
    "users:write": "Create, change, disable users; reset their passwords; assign roles.",
    "roles:read": "List roles and their permissions.",
    "roles:write": "Create, change and delete custom roles.",
    "tokens:admin": "See and revoke every user's API tokens (everyone manages their own).",
    "audit:read": "Read the audit log and verify its signatures.",
    "security:read": "See the security posture, lockouts and the OIDC configuration.",
    "security:write": "Reset lockouts and configure OIDC login.",
    "config:export": "Export the server configuration as an encrypted bundle.",
    "config:import": "Restore the server configuration from an encrypted bundle.",
    "alerts:read": "See alerts, their history and the alert rules.",
    "alerts:acknowledge": "Acknowledge and snooze alerts.",
    "alerts:write": "Change alert thresholds and rules.",
    "notifications:read": "See notification channels, the delivery queue and its history.",
    "notifications:write": "Configure notification channels; retry or drop dead letters.",
    "groups:read": "See host groups and their members.",
    "groups:write": "Create, change and delete host groups; add and remove members.",
    "agents:read": "See agents and the hosts waiting for approval.",
    "agents:write": "Approve, reject, revoke, pre-register and remove agents.",
    "agents:enroll": "Create and delete enrolment tokens.",
}

# (id, name, description, permissions). Written to the roles table at every start.
SYSTEM_ROLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("admin", "Administrator", "Full system access", ("*",)),
    (
        "operator",
        "Operator",
        "Watch hosts and act on them",
        (
            "metrics:read",
            "processes:*",
            "settings:read",
            "users:read",
            "roles:read",
            "alerts:read",
            "alerts:acknowledge",
            "notifications:read",
            "groups:read",
            "agents:read",
        ),
    ),
    (
        "viewer",
        "Viewer",
        "Read-only access to monitoring data",
        ("metrics:read", "processes:read", "alerts:read", "agents:read"),
    ),
)


def grants(granted: Iterable[str], needed: str) -> bool:
    """True when any grant covers `needed` (exactly, by `*`, or by `resource:*`)."""
    resource = needed.split(":", 1)[0]
    for grant in granted:
        if grant == "*" or grant == needed or grant == f"{resource}:*":
            return True
    return False


def unknown_permissions(requested: Iterable[str]) -> list[str]:
    """Entries that are neither `*`, a known permission, nor `resource:*` of a known resource."""
    resources = {p.split(":", 1)[0] for p in PERMISSIONS}
    return [
        p
        for p in requested
        if p != "*" and p not in PERMISSIONS and not (p.endswith(":*") and p[:-2] in resources)
    ]
