"""The agent connection's messages, shared by the agent and the server (no server imports).

One WebSocket per agent, JSON text frames, each `{"v": 1, "type": …}`:

  server → agent   challenge {nonce}        the first frame; the agent proves its identity
  agent  → server  hello {agent_id, signature, version, facts}
  server → agent   pending                  enrolled but not approved yet: wait on this socket
  server → agent   welcome {config}         trusted; reports may flow
  agent  → server  report {seq, ts, snapshot}
  server → agent   ack {seq}                everything up to seq is stored; the agent forgets it
  server → agent   config {config}          remote config changed
  server → agent   live {interval}          someone watches: report this often (null: stop)
  server → agent   ping {id} / agent → server pong {id}
  server → agent   rotate {id} / agent → server rotate {id, public_key, signature}
  server → agent   rotated {id}             the new key is trusted; the agent switches to it
  server → agent   process {id, action, pid, signal}    `details` of a process or a `signal` to it
  agent  → server  process {id, result} or {id, error: {code, message}}
                   only when the agent runs with --allow-commands *and* its remote config has
                   commandsEnabled; otherwise error COMMANDS_DISABLED

Close codes: 4401 identity refused (revoked, rejected, bad signature), 4404 unknown agent,
4408 no hello in time, 4400 protocol violation.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson


def fingerprint(public_key_b64: str) -> str:
    """An agent key's fingerprint, as the agent prints it and the server shows it."""
    return "sha256:" + hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()


VERSION = 1
PATH = "/api/v1/agents/connect"

CLOSE_REFUSED = 4401
CLOSE_UNKNOWN = 4404
CLOSE_TIMEOUT = 4408
CLOSE_PROTOCOL = 4400

DEFAULT_CONFIG: dict[str, Any] = {
    "interval": 5.0,
    "collectors": [],  # empty: every collector
    "log_sources": [],
    "commandsEnabled": False,
}


class BadMessage(ValueError):
    pass


def hello_payload(nonce: bytes, agent_id: str) -> bytes:
    """What the agent signs: a fixed label, the server's nonce and the id it claims."""
    return b"fleetdeck-agent-v1:" + nonce + b":" + agent_id.encode()


def rotate_payload(new_public_key_b64: str) -> bytes:
    return b"fleetdeck-rotate-v1:" + new_public_key_b64.encode()


def encode(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({"v": VERSION, "type": kind, **fields})


def decode(raw: str | bytes) -> dict[str, Any]:
    """A message as a dict with a known version and a string type, or BadMessage."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise BadMessage("a message is a JSON object")
    if message.get("v") != VERSION:
        raise BadMessage(f"unsupported message version {message.get('v')!r}")
    if not isinstance(message.get("type"), str):
        raise BadMessage("a message needs a string 'type'")
    return message
