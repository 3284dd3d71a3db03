"""Webhook body templates: fleetdeck's own JSON, or the shape a chat service expects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Payload = dict[str, Any]
COLORS = {"critical": 0xD93526, "warning": 0xC27A00, "resolved": 0x398712, "test": 0x1095C1}


def _tone(payload: Payload) -> str:
    if payload.get("event") == "test":
        return "test"
    if payload.get("event") == "alert.resolved":
        return "resolved"
    return str((payload.get("alert") or {}).get("level", "warning"))


def _title(payload: Payload) -> str:
    alert = payload.get("alert")
    if not alert:
        return "fleetdeck"
    state = "resolved" if payload.get("event") == "alert.resolved" else alert["level"]
    return f"{alert['rule']} on {alert['agent_id']}: {state}"


def generic(payload: Payload) -> Payload:
    return payload


def slack(payload: Payload) -> Payload:
    color = f"#{COLORS[_tone(payload)]:06x}"
    return {"text": payload["text"], "attachments": [{"color": color, "title": _title(payload)}]}


def discord(payload: Payload) -> Payload:
    return {
        "content": payload["text"],
        "embeds": [{"title": _title(payload), "color": COLORS[_tone(payload)]}],
    }


def teams(payload: Payload) -> Payload:
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": payload["text"],
        "themeColor": f"{COLORS[_tone(payload)]:06X}",
        "title": _title(payload),
        "text": payload["text"],
    }


def ntfy(payload: Payload) -> Payload:
    tone = _tone(payload)
    priority = {"critical": 5, "warning": 4}.get(tone, 3)
    tags = {
        "critical": ["rotating_light"],
        "warning": ["warning"],
        "resolved": ["white_check_mark"],
    }
    return {
        "title": _title(payload),
        "message": payload["text"],
        "priority": priority,
        "tags": tags.get(tone, []),
    }


def ntfy_target(url: str, body: Payload) -> tuple[str, Payload]:
    """ntfy takes JSON at its root URL with the topic inside: `https://ntfy.sh/ops` posts
    `{"topic": "ops", ...}` to `https://ntfy.sh/`."""
    parts = urlsplit(url)
    topic = parts.path.strip("/")
    root = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
    return root, {"topic": topic, **body}


TEMPLATES: dict[str, tuple[str, Callable[[Payload], Payload]]] = {
    "generic": ("fleetdeck's JSON: event, text and the alert's fields", generic),
    "slack": ("Slack incoming webhook: text with a coloured attachment", slack),
    "discord": ("Discord webhook: content with a coloured embed", discord),
    "teams": ("Microsoft Teams incoming webhook: a MessageCard", teams),
    "ntfy": ("ntfy: the URL's path is the topic; title, message, priority, tags", ntfy),
}


def render(template: str, url: str, payload: Payload) -> tuple[str, Payload]:
    """The URL to post to and the body, for `template`."""
    body = TEMPLATES[template][1](payload)
    if template == "ntfy":
        return ntfy_target(url, body)
    return url, body
