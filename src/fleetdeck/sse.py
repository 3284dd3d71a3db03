"""Server-Sent Events framing."""

from __future__ import annotations

KEEPALIVE = b": keep-alive\n\n"


def frame(event: str, data: bytes) -> bytes:
    """One SSE event; `data` is a single line of JSON."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
