"""The stored series, declared once: name, unit, description, and how to read it from a snapshot.

A series key is `name` or `name[label]` (e.g. `disk[/]`, `net.rx[eth0]`); the history API,
CSV export and docs use these keys. Values are kept to two decimals (the collectors round to
at most two), which lets the store keep them as integers and compress them well.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    description: str
    label: str | None = None  # what the `[label]` part names, for labelled families


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("cpu", "%", "CPU usage, all cores"),
        Metric("memory", "%", "Memory in use (used / total)"),
        Metric("swap", "%", "Swap in use (used / total; 0 without swap)"),
        Metric("load1", "", "Load average over 1 minute"),
        Metric("load5", "", "Load average over 5 minutes"),
        Metric("load15", "", "Load average over 15 minutes"),
        Metric("processes", "", "Number of processes"),
        Metric("disk", "%", "Filesystem usage (used / total)", "mount point"),
        Metric("disk.read", "B/s", "Disk read rate", "device"),
        Metric("disk.write", "B/s", "Disk write rate", "device"),
        Metric("net.rx", "B/s", "Network receive rate", "interface"),
        Metric("net.tx", "B/s", "Network transmit rate", "interface"),
        Metric("temp", "°C", "Temperature", "sensor"),
        Metric("gpu.util", "%", "GPU utilisation", "GPU index"),
        Metric("gpu.memory", "%", "GPU memory in use", "GPU index"),
        Metric("container.cpu", "%", "Container CPU usage (100 = one core)", "container name"),
        Metric("container.memory", "MiB", "Container memory in use", "container name"),
    )
}


MIB = 1024 * 1024
# The host's end of a container's virtual Ethernet pair: a new random name at each container
# start (so a new series each time, for a link that lives as long as the container), carrying
# traffic the host's own interfaces carry again. No history is kept for these; the live
# snapshot still lists them.
CONTAINER_LINK_PREFIX = "veth"


def container_link(interface: str) -> bool:
    return interface.startswith(CONTAINER_LINK_PREFIX)


# Bridges that containers and VMs reach the network through (Docker, libvirt, CNI, LXC,
# Podman): what crosses them to the outside crosses a host interface too.
BRIDGE_PREFIXES = ("docker", "br-", "virbr", "cni", "lxcbr", "podman")
# Intermediate functional blocks: traffic control redirects another interface's incoming
# traffic through one to shape it, so it carries bytes that interface counted already.
SHAPING_PREFIX = "ifb"


def in_network_totals(interface: str) -> bool:
    """Whether an interface's traffic counts in a host's network totals (overview, host
    page): not the loopback, whose traffic never leaves the host, nor containers' links and
    bridges, whose traffic to the outside the host's own interfaces carry again, nor traffic
    shaping's mirrors (`ifb*`). The web page keeps the same rule (host.js `counted`)."""
    return (
        interface != "lo"
        and not container_link(interface)
        and not interface.startswith(BRIDGE_PREFIXES)
        and not interface.startswith(SHAPING_PREFIX)
    )


# Names a `metrics=` selection accepts for several families at once.
GROUPS: dict[str, tuple[str, ...]] = {
    "load": ("load1", "load5", "load15"),
    "net": ("net.rx", "net.tx"),
    "disk.io": ("disk.read", "disk.write"),
    "gpu": ("gpu.util", "gpu.memory"),
    "container": ("container.cpu", "container.memory"),
}


def key(name: str, label: str | None = None) -> str:
    return name if label is None else f"{name}[{label}]"


def family(series_key: str) -> str:
    """`disk[/]` -> `disk`; `cpu` -> `cpu`."""
    return series_key.split("[", 1)[0]


def _pct(used: float, total: float) -> float:
    return round(100.0 * used / total, 2) if total else 0.0


def from_snapshot(snap: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """Every (series key, value) a Tyto snapshot carries. Missing sections yield nothing."""
    cpu = snap.get("cpu") or {}
    if "totalUsage" in cpu:
        yield "cpu", float(cpu["totalUsage"])
    load = cpu.get("loadAverage") or {}
    for field, name in (("one", "load1"), ("five", "load5"), ("fifteen", "load15")):
        if field in load:
            yield name, float(load[field])
    mem = snap.get("memory") or {}
    if mem.get("total"):
        yield "memory", _pct(mem["used"], mem["total"])
        yield "swap", _pct(mem.get("swapUsed", 0), mem.get("swapTotal", 0))
    procs = snap.get("processes") or {}
    if "total" in procs:
        yield "processes", float(procs["total"])
    disk = snap.get("disk") or {}
    for mount in disk.get("mounts") or ():
        yield key("disk", mount["mountpoint"]), _pct(mount["used"], mount["total"])
    for io in disk.get("io") or ():
        yield key("disk.read", io["device"]), float(io.get("readRate", 0.0))
        yield key("disk.write", io["device"]), float(io.get("writeRate", 0.0))
    for iface in (snap.get("network") or {}).get("interfaces") or ():
        if container_link(iface["name"]):
            continue
        yield key("net.rx", iface["name"]), float(iface["rxRate"])
        yield key("net.tx", iface["name"]), float(iface["txRate"])
    for sensor in (snap.get("temperature") or {}).get("sensors") or ():
        if sensor.get("value") is not None:
            yield key("temp", sensor["name"]), float(sensor["value"])
    for gpu in (snap.get("gpu") or {}).get("gpus") or ():
        yield key("gpu.util", str(gpu["index"])), float(gpu["utilization"])
        yield key("gpu.memory", str(gpu["index"])), _pct(gpu["memoryUsed"], gpu["memoryTotal"])
    for container in (snap.get("docker") or {}).get("containers") or ():
        if container.get("status") != "running":  # a stopped one's series pause, not drop to 0
            continue
        if container.get("cpu") is not None:
            yield key("container.cpu", container["name"]), float(container["cpu"])
        if container.get("memory") is not None:
            yield key("container.memory", container["name"]), round(container["memory"] / MIB, 2)
