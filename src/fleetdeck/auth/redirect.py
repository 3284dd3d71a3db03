"""Where the server may send a browser after signing in: its own paths only."""

from __future__ import annotations


def is_local_path(target: str) -> bool:
    """A path on this server. Browsers read `//host`, `/\\host` and paths with tabs or
    newlines (which URL parsers drop) as another site, so those are not."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    return not any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target)
