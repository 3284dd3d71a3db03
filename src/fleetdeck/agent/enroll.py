"""`fleetdeck agent enroll`: make (or reuse) this host's key and ask the server to let it in."""

from __future__ import annotations

import os
import platform
import socket
import ssl
from pathlib import Path
from typing import Any

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


CA_FILE = "ca.pem"


def _normal(fingerprint: str) -> str:
    return fingerprint.lower().removeprefix("sha256:").replace(":", "").strip()


def pin_ca(server: str, expected: str, state_dir: Path) -> None:
    """Fetch the server's CA certificate, check it against the fingerprint the administrator
    gave, and keep it: from then on the agent trusts that CA only."""
    import httpx2

    from fleetdeck.tls import fingerprint

    try:  # unverified on purpose: the fingerprint check below is the verification
        reply = httpx2.get(server.rstrip("/") + "/ca.pem", verify=False, timeout=TIMEOUT)
    except httpx2.HTTPError as exc:
        raise EnrolmentRefused(f"cannot reach {server}: {exc}") from exc
    if reply.status_code != 200:
        raise EnrolmentRefused(
            f"{server} serves no CA certificate (is it started with --tls auto?)"
        )
    try:
        found = fingerprint(reply.content)
    except ValueError as exc:
        raise EnrolmentRefused(f"{server}/ca.pem is not a certificate") from exc
    if _normal(found) != _normal(expected):
        raise EnrolmentRefused(
            f"the server's CA is {found}, not {expected}: wrong server, or someone in between"
        )
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (state_dir / CA_FILE).write_bytes(reply.content)


def ssl_context(state_dir: Path) -> ssl.SSLContext | None:
    """The pinned CA as the only trust anchor, or None for the system's defaults. The CA is
    this server's own, so any certificate it signed is the server, whatever name it carries."""
    ca = state_dir / CA_FILE
    if not ca.exists():
        return None
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    return context


def enroll(
    server: str,
    token: str,
    state_dir: Path,
    name: str | None = None,
    ca_fingerprint: str | None = None,
) -> dict[str, Any]:
    """Returns the saved state: server, agent id, status (pending or approved), fingerprint."""
    import httpx2  # here, not at the top: `agent run` never needs it

    if ca_fingerprint:
        pin_ca(server, ca_fingerprint, state_dir)
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
        verify: ssl.SSLContext | bool = ssl_context(state_dir) or True
        reply = httpx2.post(url, json=body, timeout=TIMEOUT, verify=verify)
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
