"""What an agent does when the server asks it to act on its host: process details and signals,
with the same safety rules as the server's own host (collect/process_control.py)."""

from __future__ import annotations

from typing import Any

from fleetdeck.collect import process_control


class Refusal(Exception):
    """The agent will not or cannot do it: an error code the server passes on, and why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def process_action(message: dict[str, Any]) -> dict[str, Any]:
    """`details` of a process, or a `signal` to it, as the server's process routes answer."""
    action, pid = message.get("action"), message.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
        raise Refusal("INVALID_REQUEST", "a process action needs a pid")
    try:
        if action == "details":
            return process_control.details(pid)
        if action == "signal":
            signum = process_control.parse_signal(message.get("signal", ""))
            return {"pid": pid, "signal": signum, "name": process_control.send(pid, signum)}
    except ValueError as exc:
        raise Refusal("INVALID_SIGNAL", str(exc)) from exc
    except process_control.ProcessGone as exc:
        raise Refusal("PROCESS_NOT_FOUND", f"no process {pid}") from exc
    except process_control.SignalRefused as exc:
        raise Refusal("PROCESS_PROTECTED", str(exc)) from exc
    except process_control.SignalDenied as exc:
        raise Refusal("PROCESS_ACCESS_DENIED", str(exc)) from exc
    raise Refusal("INVALID_REQUEST", f"unknown process action {action!r}")
