"""Apprise URLs (ntfy, Gotify, Slack, Telegram, Matrix, and the rest apprise supports).

apprise is imported on first use, not with the server: it costs 19 MB resident, which a server
without Apprise channels should not pay (bench/collector_overhead).
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import apprise


def _kind(payload: dict[str, Any]) -> apprise.NotifyType:
    import apprise

    if payload.get("event") == "alert.resolved":
        return apprise.NotifyType.SUCCESS
    level = (payload.get("alert") or {}).get("level")
    if level == "critical":
        return apprise.NotifyType.FAILURE
    if level == "warning":
        return apprise.NotifyType.WARNING
    return apprise.NotifyType.INFO


async def send(urls: list[str], payload: dict[str, Any]) -> bool:
    """True when every URL accepted the message."""
    # The first import takes a while: not on the event loop.
    apprise = await asyncio.to_thread(importlib.import_module, "apprise")
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            raise ValueError(f"apprise does not understand the URL {url.split(':', 1)[0]}://…")
    alert = payload.get("alert")
    title = f"fleetdeck: {alert['rule']} on {alert['agent_id']}" if alert else "fleetdeck"
    return bool(
        await notifier.async_notify(body=payload.get("text", ""), title=title,
                                    notify_type=_kind(payload))
    )  # fmt: skip


def valid(url: str) -> bool:
    import apprise

    return bool(apprise.Apprise().add(url))
