"""`memory`: RAM and swap in bytes."""

from __future__ import annotations

import psutil


class MemoryCollector:
    key = "memory"
    heavy = False

    def collect(self) -> dict[str, int]:
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return {
            "total": vm.total,
            "used": vm.used,
            "free": vm.free,
            "available": vm.available,
            "buffers": getattr(vm, "buffers", 0),
            "cached": getattr(vm, "cached", 0),
            "swapTotal": swap.total,
            "swapUsed": swap.used,
        }
