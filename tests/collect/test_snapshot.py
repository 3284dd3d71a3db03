"""The snapshot has every Tyto field with sane values, read from this real host."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from fleetdeck.collect.host import SECTIONS, HostCollector, default_collectors


@pytest.fixture(scope="module")
def snap() -> dict[str, Any]:
    collector = HostCollector(default_collectors())
    collector.snapshot(watched=True)
    # Generate some traffic so rates have something to show.
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        client.sendall(b"x" * 1_000_000)
        received = 0
        while received < 1_000_000:
            received += len(peer.recv(1 << 20))
        time.sleep(0.2)
        snapshot = collector.snapshot(watched=True)
        client.close()
        peer.close()
    return snapshot


def test_sections_are_those_of_the_reference_in_order(snap: dict[str, Any]) -> None:
    assert list(snap) == ["timestamp", *SECTIONS]
    assert snap["timestamp"].endswith("Z")


def test_system(snap: dict[str, Any]) -> None:
    assert snap["system"]["hostname"] == socket.gethostname()
    assert snap["system"]["uptime"] > 0 and snap["system"]["kernel"]


def test_cpu(snap: dict[str, Any]) -> None:
    cpu = snap["cpu"]
    assert len(cpu["cores"]) >= 1 and [c["id"] for c in cpu["cores"]] == list(
        range(len(cpu["cores"]))
    )
    assert all(0 <= c["usage"] <= 100 for c in cpu["cores"])
    assert 0 <= cpu["totalUsage"] <= 100
    assert set(cpu["loadAverage"]) == {"one", "five", "fifteen"}


def test_memory(snap: dict[str, Any]) -> None:
    mem = snap["memory"]
    assert set(mem) == {
        "total",
        "used",
        "free",
        "available",
        "buffers",
        "cached",
        "swapTotal",
        "swapUsed",
    }
    assert 0 < mem["used"] <= mem["total"] and mem["available"] <= mem["total"]
    assert mem["swapUsed"] <= mem["swapTotal"] or mem["swapTotal"] == 0


def test_disk(snap: dict[str, Any]) -> None:
    root = next(m for m in snap["disk"]["mounts"] if m["mountpoint"] == "/")
    assert root["total"] > 0 and root["used"] + root["free"] <= root["total"]
    for io in snap["disk"]["io"]:
        assert set(io) == {"device", "readBytes", "writeBytes", "readRate", "writeRate"}
        assert io["readRate"] >= 0 and io["writeRate"] >= 0
        assert not io["device"].startswith("loop")


def test_network_rates_follow_traffic(snap: dict[str, Any]) -> None:
    lo = next(i for i in snap["network"]["interfaces"] if i["name"] == "lo")
    assert lo["ipv4"] == "127.0.0.1"
    assert lo["rxRate"] > 100_000 and lo["txRate"] > 100_000
    assert lo["rxBytes"] >= 1_000_000
    assert snap["network"]["connectionCount"] >= 2


def test_processes(snap: dict[str, Any]) -> None:
    procs = snap["processes"]
    assert procs["total"] > 1
    assert 1 <= len(procs["topByCpu"]) <= 10 and len(procs["topByMemory"]) >= 1
    mems = [p["memory"] for p in procs["topByMemory"]]
    assert mems == sorted(mems, reverse=True)
    assert set(procs["topByCpu"][0]) == {"pid", "name", "user", "cpu", "memory", "state"}


def test_absent_hardware_and_services_say_unavailable(snap: dict[str, Any]) -> None:
    assert isinstance(snap["temperature"]["sensors"], list)
    assert snap["gpu"]["available"] in (True, False) and isinstance(snap["gpu"]["gpus"], list)
    assert snap["docker"]["available"] in (True, False)
    assert snap["systemd"]["available"] in (True, False)


def test_heavy_collectors_repeat_their_last_result_while_unwatched() -> None:
    collector = HostCollector(default_collectors(), heavy_interval=3600)
    first = collector.snapshot(watched=False)
    second = collector.snapshot(watched=False)
    assert second["processes"]["topByCpu"] == first["processes"]["topByCpu"]
    watched = collector.snapshot(watched=True)
    assert watched["timestamp"] >= first["timestamp"]


class _Broken:
    key = "memory"
    heavy = False

    def collect(self) -> dict[str, int]:
        raise OSError("simulated /proc failure")


def test_a_failing_collector_does_not_break_the_snapshot(caplog: pytest.LogCaptureFixture) -> None:
    collector = HostCollector([_Broken(), *default_collectors()[:2]])
    snap = collector.snapshot(watched=True)
    collector.snapshot(watched=True)
    assert snap["memory"] == {} and "cpu" in snap
    assert sum("collector memory failed" in r.getMessage() for r in caplog.records) == 1
