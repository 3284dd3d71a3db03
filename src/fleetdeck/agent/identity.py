"""The agent's identity: an Ed25519 key pair in its state directory, private key mode 0600."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleetdeck.agent.protocol import fingerprint
from fleetdeck.files import write_private

KEY_FILE = "agent.key"
NEXT_KEY_FILE = "agent.key.next"  # a rotation in flight: the server may already trust it
STATE_FILE = "agent.json"


def default_state_dir() -> Path:
    """`FLEETDECK_AGENT_STATE_DIR`, else /var/lib/fleetdeck-agent as root, else the user's."""
    configured = os.environ.get("FLEETDECK_AGENT_STATE_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/lib/fleetdeck-agent")
    return Path.home() / ".local" / "state" / "fleetdeck-agent"


@dataclass
class Identity:
    private_key: Ed25519PrivateKey

    @property
    def public_key_b64(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key_b64)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private_key.sign(data)).decode()


def _read(path: Path) -> Identity:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return Identity(key)


def _write_new(path: Path) -> Identity:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem)
    return Identity(key)


def load_or_create(state_dir: Path) -> Identity:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / KEY_FILE
    return _read(path) if path.exists() else _write_new(path)


def prepare_next(state_dir: Path) -> Identity:
    """A new key beside the current one, written before the server is told about it, so a
    crash between the server's switch and ours cannot lock this agent out."""
    return _write_new(state_dir / NEXT_KEY_FILE)


def has_next(state_dir: Path) -> bool:
    return (state_dir / NEXT_KEY_FILE).exists()


def promote_next(state_dir: Path) -> Identity:
    """The rotation is done: the next key becomes the key (an atomic rename)."""
    (state_dir / NEXT_KEY_FILE).replace(state_dir / KEY_FILE)
    promoted = _read(state_dir / KEY_FILE)
    state = load_state(state_dir)
    if state is not None:
        save_state(state_dir, dict(state, fingerprint=promoted.fingerprint))
    return promoted


def save_state(state_dir: Path, state: dict[str, Any]) -> None:
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def load_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
