"""`fleetdeck agent enroll`: make (or reuse) this host's key and ask the server to let it in."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path
from typing import Any

import httpx2

from fleetdeck import __version__
from fleetdeck.agent import identity

TIMEOUT = 15.0


class EnrolmentRefused(Exception):
    pass


def facts() -> dict[str, Any]:
    return {
        "architecture": platform.machine(),
        "os": platform.system().lower(),
        "kernel": platform.release(),
        "version": __version__,
        "cpus": os.cpu_count() or 0,
        "python": platform.python_version(),
    }


def enroll(server: str, token: str, state_dir: Path, name: str | None = None) -> dict[str, Any]:
    """Returns the saved state: server, agent id, status (pending or approved), fingerprint."""
    me = identity.load_or_create(state_dir)
    body = {
        "token": token,
        "hostname": socket.gethostname(),
        "public_key": me.public_key_b64,
        "name": name,
        "facts": facts(),
    }
    url = server.rstrip("/") + "/api/v1/agents/enroll"
    try:
        reply = httpx2.post(url, json=body, timeout=TIMEOUT)
    except httpx2.HTTPError as exc:
        raise EnrolmentRefused(f"cannot reach {server}: {exc}") from exc
    if reply.status_code != 201:
        try:
            message = reply.json().get("error", reply.text)
        except ValueError:
            message = reply.text
        raise EnrolmentRefused(f"the server refused the enrolment ({reply.status_code}): {message}")
    answer = reply.json()
    state = {
        "server": server.rstrip("/"),
        "agent_id": answer["agent_id"],
        "status": answer["status"],
        "fingerprint": answer["fingerprint"],
    }
    identity.save_state(state_dir, state)
    return state
