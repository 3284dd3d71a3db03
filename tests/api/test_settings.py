"""The refresh interval and the metric history's retention change live, are validated, and
survive a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.config import Settings
from fleetdeck.tsdb.engine import now_ms
from tests.conftest import Api, admin_headers, make_settings

HOUR = 3_600_000
DEFAULTS = {"raw": 86400, "1m": 604800, "5m": 2592000, "1h": 34560000}


def test_refresh_interval_is_validated(api: Api) -> None:
    headers = api.as_("alice")
    for bad in (0, 0.5, 3601, "fast", None):
        reply = api.client.post("/api/v1/settings/refresh", json={"interval": bad}, headers=headers)
        assert reply.status_code == 422, bad
    assert api.client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 1.0}


def test_refresh_interval_changes_the_running_collector(api: Api) -> None:
    headers = api.as_("alice")
    reply = api.client.post("/api/v1/settings/refresh", json={"interval": 3600}, headers=headers)
    assert reply.json() == {"interval": 3600}
    assert api.app_state.monitor.interval == 3600
    ticks = api.app_state.monitor.ticks
    time.sleep(2.5)  # at the old 1 s interval two more ticks would have come by now
    assert api.app_state.monitor.ticks <= ticks + 1


def test_operator_cannot_change_settings(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/settings/refresh", json={"interval": 10}, headers=api.as_("bob")
    )
    assert reply.status_code == 403
    assert api.client.get("/api/v1/settings/refresh", headers=api.as_("bob")).status_code == 200


def test_refresh_interval_survives_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        headers = admin_headers(client)
        client.post("/api/v1/settings/refresh", json={"interval": 42}, headers=headers)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.monitor.interval == 42  # type: ignore[attr-defined]
        assert client.get("/api/v1/settings/refresh", headers=headers).json() == {"interval": 42}


def test_retention_changes_are_validated_and_audited(api: Api) -> None:
    headers = api.as_("alice")
    url = "/api/v1/settings/retention"
    assert api.client.get(url, headers=headers).json() == {
        "retention_seconds": DEFAULTS, "configured_seconds": DEFAULTS, "overridden": [],
    }  # fmt: skip
    for bad in ({"raw": "30m"}, {"raw": "soon"}, {"2m": 3600}, {"1h": -1}, {"raw": None}):
        reply = api.client.put(url, json=bad, headers=headers)
        assert reply.status_code == 422, (bad, reply.text)
        assert reply.json()["code"] == "VALIDATION_ERROR"
    assert api.client.put(url, json={}, headers=headers).status_code == 400
    assert api.client.put(url, json={"raw": "2d"}, headers=api.as_("bob")).status_code == 403
    assert api.client.get(url, headers=headers).json()["overridden"] == []  # nothing was kept

    reply = api.client.put(url, json={"raw": "48h", "1h": 86400 * 800}, headers=headers).json()
    assert reply["retention_seconds"] == {**DEFAULTS, "raw": 172800, "1h": 69120000}
    assert reply["configured_seconds"] == DEFAULTS and reply["overridden"] == ["raw", "1h"]
    assert api.app_state.tsdb.kept_since("raw", 10**13) == 10**13 - 172_800_000
    stats = api.client.get("/api/v1/metrics-store/stats", headers=headers).json()
    assert stats["retention_seconds"]["raw"] == 172800
    # A later change of one resolution keeps the other's.
    reply = api.client.put(url, json={"raw": "36h"}, headers=headers).json()
    assert reply["retention_seconds"]["1h"] == 69120000 and reply["overridden"] == ["raw", "1h"]
    events = api.client.get("/api/v1/audit?action=settings.retention", headers=headers).json()[
        "events"
    ]
    assert [e["details"] for e in events][:2] == [
        {"from": {"raw": 172800}, "to": {"raw": 129600}},
        {"from": {"raw": 86400, "1h": 34560000}, "to": {"raw": 172800, "1h": 69120000}},
    ]


def test_retention_survives_a_restart_and_goes_back_to_the_configuration(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, retention_5m=86400 * 60)
    configured = {**DEFAULTS, "5m": 5184000}
    with TestClient(create_app(settings)) as client:
        headers = admin_headers(client)
        client.put("/api/v1/settings/retention", json={"1m": "14d"}, headers=headers)
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/v1/settings/retention", headers=headers).json()
        assert body["retention_seconds"] == {**configured, "1m": 1209600}
        assert body["overridden"] == ["1m"]
        reset = client.delete("/api/v1/settings/retention", headers=headers).json()
        assert reset == {
            "retention_seconds": configured, "configured_seconds": configured, "overridden": [],
        }  # fmt: skip
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/v1/settings/retention", headers=headers).json()
        assert body["retention_seconds"] == configured


def test_a_shorter_retention_deletes_older_samples_at_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, retention_raw=3 * 86400)
    with TestClient(create_app(settings)) as client:
        headers = admin_headers(client)
        tsdb = client.app.state.tsdb  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while tsdb.last_retention is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the job's run at start is over: the next is an hour away
        old = (now_ms() - 30 * HOUR) // HOUR * HOUR
        for i in range(12):
            client.portal.call(tsdb.ingest, "old-1", old + i * 10_000, [("cpu", float(i))])
        client.portal.call(tsdb.compact)

        def raw_points() -> list[Any]:
            body = client.get(
                f"/api/v1/history?agent_id=old-1&from={old // 1000}&to={(old + HOUR) // 1000}"
                "&resolution=raw",
                headers=headers,
            ).json()
            return list(body["data"])

        assert len(raw_points()) == 12
        reply = client.put("/api/v1/settings/retention", json={"raw": "1d"}, headers=headers)
        assert reply.status_code == 200, reply.text
        assert raw_points() == []  # queries answer from the new bounds at once
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = client.get("/api/v1/metrics-store/stats", headers=headers).json()
            if stats["oldest_sample"]["raw"] is None or stats["oldest_sample"]["raw"] > (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old / 1000 + 3600))
            ):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the samples of 30 hours ago are still stored: {stats}")
        # What the tiers that keep longer hold is still there.
        body = client.get(
            f"/api/v1/history?agent_id=old-1&from={old // 1000}&to={(old + HOUR) // 1000}"
            "&resolution=1m&metrics=cpu",
            headers=headers,
        ).json()
        assert [p["cpu"]["max"] for p in body["data"]] == [5.0, 11.0]
