"""`disk`: mounted filesystems' usage, and per-device I/O counters with rates."""

from __future__ import annotations

import psutil

from fleetdeck.collect.base import RateTracker

# Pseudo devices whose I/O says nothing about the host's disks.
_SKIP_IO_PREFIXES = ("loop", "ram")


class DiskCollector:
    key = "disk"
    heavy = False

    def __init__(self) -> None:
        self._rates = RateTracker()

    @staticmethod
    def _mounts() -> list[dict[str, object]]:
        mounts = []
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if part.mountpoint in seen:
                continue
            seen.add(part.mountpoint)
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:  # unmounted between the two calls, or not readable
                continue
            mounts.append(
                {
                    "device": part.device,
                    "mountpoint": part.mountpoint,
                    "fstype": part.fstype,
                    "total": usage.total,
                    "used": usage.used,
                    "free": usage.free,
                }
            )
        return mounts

    def _io(self) -> list[dict[str, object]]:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        devices = []
        for name, c in sorted(counters.items()):
            if name.startswith(_SKIP_IO_PREFIXES):
                continue
            read_rate, write_rate = self._rates.rates(name, (c.read_bytes, c.write_bytes))
            devices.append(
                {
                    "device": name,
                    "readBytes": c.read_bytes,
                    "writeBytes": c.write_bytes,
                    "readRate": read_rate,
                    "writeRate": write_rate,
                }
            )
        self._rates.forget_except({str(d["device"]) for d in devices})
        return devices

    def collect(self) -> dict[str, object]:
        return {"mounts": self._mounts(), "io": self._io()}
