"""Server-Sent Events framing."""

from __future__ import annotations

KEEPALIVE = b": keep-alive\n\n"


def frame(event: str, data: bytes, event_id: int | None = None) -> bytes:
    """One SSE event; `data` is a single line of JSON.

    The id of a metrics event is its publish time in Unix milliseconds, so a client can tell
    how late an event reached it (bench/stream_fanout measures exactly that).
    """
    head = b"" if event_id is None else b"id: %d\n" % event_id
    return head + b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
