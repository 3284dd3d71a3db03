"""`systemd`: service units and their states from `systemctl`; without systemd: unavailable."""

from __future__ import annotations

import os
import shutil
import subprocess

_BOOTED_MARKER = "/run/systemd/system"  # what sd_booted() checks


def parse_units(output: str) -> list[dict[str, str]]:
    """Rows of `systemctl list-units --plain --no-legend`: UNIT LOAD ACTIVE SUB DESCRIPTION."""
    services = []
    for line in output.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 4 or parts[1] != "loaded":
            continue
        services.append({"name": parts[0], "state": parts[2], "subState": parts[3]})
    return services


class SystemdCollector:
    key = "systemd"
    heavy = True

    def __init__(self) -> None:
        self._systemctl = shutil.which("systemctl")

    def collect(self) -> dict[str, object]:
        if self._systemctl is None or not os.path.isdir(_BOOTED_MARKER):
            return {"available": False, "services": []}
        try:
            done = subprocess.run(
                [
                    self._systemctl,
                    "list-units",
                    "--type=service",
                    "--all",
                    "--plain",
                    "--no-legend",
                    "--no-pager",
                ],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return {"available": False, "services": []}
        return {"available": True, "services": parse_units(done.stdout)}
