"""`system`: hostname, kernel, uptime, architecture."""

from __future__ import annotations

import platform
import socket
import time

import psutil


class SystemCollector:
    key = "system"
    heavy = False

    def __init__(self) -> None:
        self._boot = psutil.boot_time()
        uname = platform.uname()
        self._kernel = uname.release
        self._arch = uname.machine

    def collect(self) -> dict[str, object]:
        return {
            "hostname": socket.gethostname(),
            "kernel": self._kernel,
            "uptime": int(time.time() - self._boot),
            "architecture": self._arch,
        }
