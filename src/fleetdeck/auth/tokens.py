"""Bearer tokens: random, shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

SESSION_PREFIX = "fds_"
API_TOKEN_PREFIX = "fdt_"


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
