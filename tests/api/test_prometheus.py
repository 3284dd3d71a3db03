"""`GET /metrics` as a Prometheus scraping it sees it: parsed with prometheus-client's own
parser, for the hosts the scraper may read."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from fleetdeck.api.prometheus import NAMES
from fleetdeck.fleet.hub import effective_config
from fleetdeck.tsdb.series import METRICS
from tests.conftest import Api

AGENT_SNAPSHOT = {
    "timestamp": "2026-12-01T12:00:00Z",
    "cpu": {"totalUsage": 42.5, "loadAverage": {"one": 0.5, "five": 0.25, "fifteen": 0.125}},
    "memory": {"total": 1000, "used": 250, "swapTotal": 0, "swapUsed": 0},
    "disk": {"mounts": [{"mountpoint": "/srv/data", "used": 30, "total": 120}]},
    "network": {"interfaces": [{"name": "eth0", "rxRate": 1500.0, "txRate": 10.0}]},
    "docker": {
        "available": True,
        "containers": [{"name": "db", "status": "running", "cpu": 3.5, "memory": 64 * 1024 * 1024}],
    },
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _agent(api: Api, agent_id: str) -> None:
    hub = api.app_state.hub

    async def report() -> None:
        hub.approved(agent_id, effective_config({"interval": 5}))
        assert await hub.report(agent_id, int(time.time() * 1000), AGENT_SNAPSHOT)

    api.client.portal.call(report)


def _token(api: Api, headers: dict[str, str], scopes: list[str]) -> dict[str, str]:
    made = api.client.post("/api/v1/tokens", json={"name": "s", "scopes": scopes}, headers=headers)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


def test_every_stored_series_has_a_prometheus_name() -> None:
    assert set(NAMES) == set(METRICS)
    names = [prom for prom, _ in NAMES.values()]
    assert len(set(names)) == len(names)


def test_a_scrape_holds_every_host_s_latest_values_and_the_server_s_own(api: Api) -> None:
    admin = api.as_("alice")
    _agent(api, "web-1")
    scraper = _token(api, admin, ["metrics:read"])
    reply = api.client.get("/metrics", headers=scraper)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = _samples(reply.text)
    web = (("host", "web-1"),)
    assert got[("fleetdeck_cpu_usage_percent", web)] == 42.5
    assert got[("fleetdeck_memory_usage_percent", web)] == 25.0
    assert got[("fleetdeck_load15", web)] == 0.125
    disk = (("host", "web-1"), ("mountpoint", "/srv/data"))
    assert got[("fleetdeck_filesystem_usage_percent", disk)] == 25.0
    rx = (("host", "web-1"), ("interface", "eth0"))
    assert got[("fleetdeck_network_receive_bytes_per_second", rx)] == 1500.0
    db = (("container", "db"), ("host", "web-1"))
    assert got[("fleetdeck_container_memory_bytes", db)] == 64 * 1024 * 1024  # stored in MiB
    assert got[("fleetdeck_container_cpu_usage_percent", db)] == 3.5
    stamp = got[("fleetdeck_host_last_report_timestamp_seconds", web)]
    assert stamp == 1796126400.0  # 2026-12-01T12:00:00Z
    assert got[("fleetdeck_host_up", web)] == 1.0
    assert got[("fleetdeck_host_up", (("host", "local"),))] == 1.0
    assert ("fleetdeck_cpu_usage_percent", (("host", "local"),)) in got
    # The server's own figures.
    assert got[("fleetdeck_agents", (("status", "online"),))] == 1.0
    assert got[("fleetdeck_samples_ingested_total", ())] > 0
    assert got[("fleetdeck_process_resident_memory_bytes", ())] > 10e6
    assert ("fleetdeck_build_info", (("version", __import__("fleetdeck").__version__),)) in got


def test_a_scraper_needs_metrics_read_and_sees_only_its_hosts(api: Api) -> None:
    admin = api.as_("alice")
    _agent(api, "web-1")
    assert api.client.get("/metrics").status_code == 401
    no_metrics = _token(api, admin, ["processes:read"])
    denied = api.client.get("/metrics", headers=no_metrics)
    assert denied.status_code == 403 and denied.json()["code"] == "PERMISSION_DENIED"

    api.client.post(
        "/api/v1/roles",
        json={"name": "Web viewer", "permissions": ["metrics:read"], "host_groups": ["web"]},
        headers=admin,
    )
    api.client.post(
        "/api/v1/users",
        json={"username": "wendy", "password": "wendy-password", "roles": ["web-viewer"]},
        headers=admin,
    )
    wendy = api.login("wendy", "wendy-password")
    assert api.client.post("/api/v1/groups", json={"id": "web"}, headers=admin).status_code == 201
    joined = api.client.post(
        "/api/v1/groups/web/members", json={"agent_id": "local"}, headers=admin
    )
    assert joined.status_code == 200, joined.text
    got = _samples(api.client.get("/metrics", headers=wendy).text)
    hosts = {dict(labels).get("host") for _, labels in got}
    assert hosts == {"local"}  # not web-1, outside her group
    assert not any(
        name.startswith(("fleetdeck_agents", "fleetdeck_process_", "fleetdeck_series"))
        for name, _ in got
    )
