"""A naive psutil loop over the same metrics, as a reference for what care saves.

It scans processes with fresh Process objects and calls net_connections(), the two costs the
real collector avoids. Run by collector_overhead.py; not part of fleetdeck.
"""

from __future__ import annotations

import sys
import time

import psutil

interval = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
while True:
    psutil.cpu_percent(percpu=True)
    psutil.cpu_freq(percpu=True)
    psutil.virtual_memory()
    psutil.swap_memory()
    for part in psutil.disk_partitions():
        psutil.disk_usage(part.mountpoint)
    psutil.disk_io_counters(perdisk=True)
    psutil.net_io_counters(pernic=True)
    psutil.net_if_addrs()
    len(psutil.net_connections())
    procs = []
    for pid in psutil.pids():
        try:
            p = psutil.Process(pid)
            procs.append((p.cpu_percent(), p.memory_info().rss, p.name(), p.username()))
        except psutil.Error:
            pass
    psutil.sensors_temperatures()
    time.sleep(interval)
