"""Process details and signals, with the safety rules; used for the local host and by agents."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import psutil

# The signals fleetdeck sends, by number (Linux numbering). Anything else is refused.
ALLOWED_SIGNALS: dict[int, str] = {
    int(signal.SIGHUP): "SIGHUP",
    int(signal.SIGINT): "SIGINT",
    int(signal.SIGKILL): "SIGKILL",
    int(signal.SIGUSR1): "SIGUSR1",
    int(signal.SIGUSR2): "SIGUSR2",
    int(signal.SIGTERM): "SIGTERM",
    int(signal.SIGCONT): "SIGCONT",
    int(signal.SIGSTOP): "SIGSTOP",
}


class ProcessGone(Exception):
    """No such process (or it exited meanwhile)."""


class SignalRefused(Exception):
    """fleetdeck will not send this signal to this process; the message says why."""


class SignalDenied(Exception):
    """The operating system refused (the server lacks the privilege)."""


def parse_signal(value: int | str) -> int:
    """A signal given as a number (15) or a name (`SIGTERM`, `TERM`); refused when not allowed."""
    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        by_name = {v: k for k, v in ALLOWED_SIGNALS.items()}
        if name not in by_name:
            raise ValueError(f"signal {value!r} is not one of {sorted(by_name)}")
        return by_name[name]
    if value not in ALLOWED_SIGNALS:
        raise ValueError(f"signal {value} is not one of {sorted(ALLOWED_SIGNALS)}")
    return value


def _protected_reason(proc: psutil.Process) -> str | None:
    pid = proc.pid
    if pid <= 1:
        return "pid 1 (init) and process groups cannot be signalled"
    if pid == os.getpid():
        return "fleetdeck does not signal itself"
    if pid in {p.pid for p in psutil.Process().parents()}:
        return "fleetdeck does not signal the processes that started it"
    try:
        if pid == 2 or proc.ppid() == 2:
            return "kernel threads cannot be signalled"
    except psutil.NoSuchProcess as exc:
        raise ProcessGone(str(pid)) from exc
    return None


def details(pid: int) -> dict[str, object]:
    """Tyto's process object: pid, name, cmdline, user, state, cpu, memory, threads, startTime."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            info = {
                "pid": pid,
                "name": proc.name(),
                "cmdline": " ".join(proc.cmdline()),
                "user": _safe_user(proc),
                "state": proc.status(),
                "cpu": round(proc.cpu_percent(interval=None), 1),
                "memory": proc.memory_info().rss,
                "threads": proc.num_threads(),
                "startTime": datetime.fromtimestamp(proc.create_time(), UTC)
                .replace(microsecond=0, tzinfo=None)
                .isoformat()
                + "Z",
                "ppid": proc.ppid(),
            }
    except psutil.NoSuchProcess as exc:
        raise ProcessGone(str(pid)) from exc
    except psutil.AccessDenied as exc:
        raise SignalDenied(f"not allowed to read process {pid}") from exc
    return info


def _safe_user(proc: psutil.Process) -> str | None:
    try:
        return proc.username()
    except (psutil.AccessDenied, KeyError):
        return None


def send(pid: int, signum: int) -> str:
    """Send an allowed signal to pid; returns the process name. Raises the errors above."""
    if signum not in ALLOWED_SIGNALS:
        raise SignalRefused(f"signal {signum} is not allowed")
    try:
        proc = psutil.Process(pid)
        name = proc.name()
    except psutil.NoSuchProcess as exc:
        raise ProcessGone(str(pid)) from exc
    except psutil.AccessDenied:
        name = ""
    reason = _protected_reason(proc)
    if reason:
        raise SignalRefused(reason)
    try:
        # psutil checks that the pid was not reused by another process since we looked it up.
        proc.send_signal(signum)
    except psutil.NoSuchProcess as exc:
        raise ProcessGone(str(pid)) from exc
    except psutil.AccessDenied as exc:
        raise SignalDenied(f"the server is not allowed to signal process {pid}") from exc
    return name
