"""Server keys kept in the data directory: made once, readable only by the server's user.

`secret.key` encrypts secrets at rest (TOTP seeds, the OIDC client secret); `audit.key` signs
the audit chain. Replicas sharing one PostgreSQL database must share these files too.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from fleetdeck.datadir import KEYS_DIR

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_SEALED_PREFIX = "v1:"


def load_or_create(data_dir: Path, name: str) -> bytes:
    """The 32-byte key `data_dir/keys/NAME.key`, created (mode 0600) when missing."""
    directory = data_dir / KEYS_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{name}.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise ValueError(
                f"{path} is damaged: expected {KEY_BYTES} bytes, found {len(key)}"
            ) from None
        return key
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


class SecretBox:
    """AES-256-GCM for short secrets stored in the database, as printable text.

    cryptography is imported at the first secret sealed or opened (a TOTP seed, a channel's
    password), not at start: ~10 MB with OpenSSL that a server keeping no secrets never needs."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @cached_property
    def _aead(self) -> AESGCM:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._key)

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_SEALED_PREFIX):
            raise ValueError("not a sealed secret")
        raw = base64.urlsafe_b64decode(sealed[len(_SEALED_PREFIX) :])
        return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()
