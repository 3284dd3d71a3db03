"""Email over SMTP (stdlib smtplib, in a worker thread): STARTTLS, implicit TLS, or plain for
a relay on the same host."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

TIMEOUT = 15.0


def compose(payload: dict[str, Any], sender: str, recipients: list[str]) -> EmailMessage:
    alert = payload.get("alert")
    message = EmailMessage()
    if alert:
        state = "RESOLVED" if payload.get("event") == "alert.resolved" else alert["level"].upper()
        message["Subject"] = f"[fleetdeck] {state}: {alert['rule']} on {alert['agent_id']}"
        lines = [payload["text"], ""] + [
            f"{k}: {v}" for k, v in alert.items() if v is not None and k != "id"
        ]
    else:
        message["Subject"] = "[fleetdeck] " + payload.get("text", "notification")
        lines = [payload.get("text", "")]
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content("\n".join(lines) + "\n")
    return message


def _send(config: dict[str, Any], password: str | None, message: EmailMessage) -> None:
    host, port, security = config["host"], int(config["port"]), config["security"]
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if security == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
    with smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if config.get("username"):
            smtp.login(config["username"], password or "")
        smtp.send_message(message)


async def send(config: dict[str, Any], password: str | None, payload: dict[str, Any]) -> None:
    message = compose(payload, config["from_address"], list(config["to"]))
    await asyncio.to_thread(_send, config, password, message)
