"""`processes`: the top consumers by CPU and by memory, and the process count.

One pass over /proc per scan. psutil keeps the Process objects between calls of process_iter,
so each one's CPU percentage is the delta since the previous scan, with no sleeping.
"""

from __future__ import annotations

import heapq
from typing import Any

import psutil

_ATTRS = ["pid", "name", "cpu_percent", "memory_info", "status"]


def _username(pid: int) -> str | None:
    try:
        return psutil.Process(pid).username()
    except (psutil.Error, KeyError):  # KeyError: uid with no passwd entry
        return None


class ProcessCollector:
    key = "processes"
    heavy = True

    def __init__(self, top: int = 10) -> None:
        self.top = top

    def _entry(self, info: dict[str, Any]) -> dict[str, object]:
        mem = info["memory_info"]
        return {
            "pid": info["pid"],
            "name": info["name"] or "",
            "user": _username(info["pid"]),
            "cpu": round(info["cpu_percent"] or 0.0, 1),
            "memory": mem.rss if mem is not None else 0,
            "state": info["status"],
        }

    def collect(self) -> dict[str, object]:
        infos = [p.info for p in psutil.process_iter(_ATTRS, ad_value=None)]
        by_cpu = heapq.nlargest(self.top, infos, key=lambda i: i["cpu_percent"] or 0.0)
        by_mem = heapq.nlargest(
            self.top, infos, key=lambda i: i["memory_info"].rss if i["memory_info"] else 0
        )
        return {
            "topByCpu": [self._entry(i) for i in by_cpu],
            "topByMemory": [self._entry(i) for i in by_mem],
            "total": len(infos),
        }
