"""Webhooks: JSON POSTs signed `X-Fleetdeck-Signature: t=<unix>,v1=<hex hmac-sha256>` over
`"<t>.<body>"`, so receivers can check origin and refuse replays; targets pass an SSRF guard."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx2

from fleetdeck.errors import Invalid

SIGNATURE_HEADER = "X-Fleetdeck-Signature"
TIMEOUT = 10.0
# Cloud metadata services and link-local addresses are never a valid target.
_ALWAYS_REFUSED = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("0.0.0.0/8"),
)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (and the tests): check the MAC and that the timestamp is fresh."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return abs(time.time() - t) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def _refused(address: str, allow_private: bool) -> str | None:
    ip = ipaddress.ip_address(address)
    if any(ip in net for net in _ALWAYS_REFUSED) or ip.is_multicast or ip.is_unspecified:
        return "link-local, metadata and multicast addresses are refused"
    if not allow_private and (ip.is_loopback or ip.is_private or ip.is_reserved):
        return (
            "loopback and private addresses are refused unless an administrator allows them "
            "(notify_allow_private)"
        )
    return None


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise Invalid unless `url` is http(s) and every address it resolves to is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("a webhook URL must be http:// or https:// with a host", code="INVALID_URL")
    try:
        infos = await asyncio.to_thread(
            socket.getaddrinfo, parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
        raise Invalid(f"cannot resolve {parts.hostname}: {exc}", code="INVALID_URL") from exc
    for info in infos:
        problem = _refused(str(info[4][0]), allow_private)
        if problem:
            raise Invalid(
                f"{parts.hostname} resolves to {info[4][0]}: {problem}", code="TARGET_REFUSED"
            )


async def check_host(host: str) -> None:
    """For servers an administrator names (SMTP): refuse only link-local and metadata
    addresses; a relay on the same host or network is normal."""
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, 25, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Invalid(f"cannot resolve {host}: {exc}", code="INVALID_URL") from exc
    for info in infos:
        problem = _refused(str(info[4][0]), allow_private=True)
        if problem:
            raise Invalid(f"{host} resolves to {info[4][0]}: {problem}", code="TARGET_REFUSED")


async def post(
    client: httpx2.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    sent = {"Content-Type": "application/json", "User-Agent": "fleetdeck", **(headers or {})}
    if secret:
        sent[SIGNATURE_HEADER] = sign(secret, body)
    return await client.post(url, content=body, headers=sent, timeout=TIMEOUT)
