"""TOTP second factor (RFC 6238, via pyotp) and one-time recovery codes."""

from __future__ import annotations

import secrets

import pyotp

from fleetdeck.auth.tokens import token_hash

ISSUER = "fleetdeck"
RECOVERY_CODES = 10


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The `otpauth://` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def code_matches(secret: str, code: str) -> bool:
    """A 6-digit code of this 30 s step or the one either side (clock drift)."""
    code = code.strip().replace(" ", "")
    return len(code) == 6 and code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]


def recovery_hash(code: str) -> str:
    return token_hash(code.strip().lower())


def looks_like_recovery_code(code: str) -> bool:
    return len(code.strip()) == 17 and code.strip()[8] == "-"
