"""What the overview shows of a host agrees with what its history stores."""

from __future__ import annotations

import random

from fleetdeck.agent.simulate import Payloads
from fleetdeck.fleet.summary import summary
from fleetdeck.tsdb import series

# The Tyto reference's memory section: used 8 of 16 GB, 10 GB available.
TYTO_MEMORY = {"total": 16_000_000_000, "used": 8_000_000_000, "free": 4_000_000_000,
               "available": 10_000_000_000, "buffers": 1_000_000_000, "cached": 3_000_000_000,
               "swapTotal": 4_000_000_000, "swapUsed": 0}  # fmt: skip


def test_the_overview_and_the_history_give_one_memory_figure() -> None:
    snapshot = {"memory": TYTO_MEMORY}
    stored = dict(series.from_snapshot(snapshot))
    assert summary("web-1", snapshot)["memory"] == stored["memory"] == 50.0


def test_network_totals_leave_out_the_loopback_and_containers_links_and_bridges() -> None:
    interfaces = [
        {"name": "lo", "rxRate": 5e6, "txRate": 5e6},
        {"name": "eth0", "rxRate": 1000.0, "txRate": 250.5},
        {"name": "wg0", "rxRate": 10.0, "txRate": 0.0},
        {"name": "veth3f2a1c9", "rxRate": 250.0, "txRate": 900.0},  # eth0 carries it again
        {"name": "docker0", "rxRate": 250.0, "txRate": 900.0},  # and so does it
        {"name": "br-5c0ffee1d2a3", "rxRate": 30.0, "txRate": 30.0},
    ]
    snapshot = {"network": {"interfaces": interfaces}}
    shown = summary("web-1", snapshot)
    assert (shown["rx"], shown["tx"]) == (1010.0, 250.5)
    # A container's link gets no series: a new name at each container start.
    assert [k for k, _ in series.from_snapshot(snapshot)] == [
        "net.rx[lo]", "net.tx[lo]", "net.rx[eth0]", "net.tx[eth0]", "net.rx[wg0]", "net.tx[wg0]",
        "net.rx[docker0]", "net.tx[docker0]", "net.rx[br-5c0ffee1d2a3]", "net.tx[br-5c0ffee1d2a3]",
    ]  # fmt: skip


def test_simulated_agents_vary_their_memory_with_their_load() -> None:
    payloads = Payloads()
    quiet = payloads.make("quiet", random.Random(1), 0.0)["memory"]
    busy = payloads.make("busy", random.Random(1), 1.0)["memory"]
    assert quiet["used"] < busy["used"] <= busy["total"]
    assert busy["used"] + busy["available"] == busy["total"]
