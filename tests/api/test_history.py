"""History, export and store statistics over HTTP."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from fleetdeck.api.history import Selection, _history_json
from fleetdeck.app import create_app
from fleetdeck.config import Settings
from fleetdeck.tsdb.engine import QueryResult, now_ms
from tests.conftest import ADMIN_PASSWORD, Api

MINUTE = 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def start(api: Api) -> int:
    """Ten minutes of a host `web-1`, one tick every 10 s, ending a minute ago."""
    t0 = (now_ms() - 11 * MINUTE) // MINUTE * MINUTE
    tsdb = api.app_state.tsdb
    for i in range(60):
        samples = [("cpu", float(i)), ("memory", 40.0), ("disk[/]", 10.0), ("disk[/data]", 70.5)]
        api.client.portal.call(tsdb.ingest, "web-1", t0 + i * 10_000, samples)
    return t0


def get(api: Api, path: str, persona: str = "charlie") -> dict[str, object]:
    reply = api.client.get(path, headers=api.as_(persona))
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_history_answers_the_tyto_shape(api: Api, start: int) -> None:
    body = get(
        api,
        f"/api/v1/history?agent_id=web-1&from={iso(start)}&to={iso(start + 59_999)}&resolution=1m",
    )
    assert body["from"] == iso(start) and body["resolution"] == "1m"
    (point,) = body["data"]  # type: ignore[misc]
    assert point["timestamp"] == iso(start)
    assert point["cpu"] == {"avg": 2.5, "min": 0.0, "max": 5.0}
    assert point["memory"] == {"avg": 40.0, "min": 40.0, "max": 40.0}


def test_a_point_a_series_lacks_leaves_its_key_out() -> None:
    """The reply is assembled from pieces, not dicts: keys that need escaping, a series with
    gaps and one with no point at all still come out as the JSON they name."""
    start = 1_764_806_400_000
    keys = ['disk[/mnt/50% "a"]', "net.rx[é0]", "cpu", "gpu"]
    result = QueryResult("raw", start, start + 20_000, keys)
    result.axis = [start, start + 10_000, start + 20_000]
    result.columns = [
        ([1.5, None, 7.0], [1.0, None, 7.0], [2.0, None, 7.0]),
        ([None, 2.0, 8.0], [None, 2.0, 8.0], [None, 2.0, 8.0]),
        ([0.1, 3.25, 9.0], [0.0, -1.0, 9.0], [1e20, 5.0, 9.0]),
        ([None, None, None], [None, None, None], [None, None, None]),
    ]
    assert result.rows[1] == (start + 10_000, [None, (2.0, 2.0, 2.0), (3.25, -1.0, 5.0), None])
    body = json.loads(_history_json(Selection("web-1", start, start, "raw", keys), result))
    assert body["metrics"] == keys and body["agent_id"] == "web-1"
    expected = []
    for ts, points in result.rows:
        entry: dict[str, object] = {"timestamp": iso(ts)}
        for key, p in zip(keys, points, strict=True):
            if p is not None:
                entry[key] = {"avg": p[0], "min": p[1], "max": p[2]}
        expected.append(entry)
    assert body["data"] == expected
    empty = QueryResult("raw", start, start, keys)
    assert (
        json.loads(_history_json(Selection("web-1", start, start, "raw", keys), empty))["data"]
        == []
    )


def test_raw_points_and_metric_families(api: Api, start: int) -> None:
    window = f"from={iso(start)}&to={iso(start + 20_000)}"
    body = get(api, f"/api/v1/history?agent_id=web-1&{window}&resolution=raw&metrics=disk")
    assert body["metrics"] == ["disk[/]", "disk[/data]"]
    stamps = [p["timestamp"] for p in body["data"]]  # type: ignore[attr-defined]
    assert stamps == [iso(start + i * 10_000) for i in range(3)]
    assert body["data"][0]["disk[/data]"] == {"avg": 70.5, "min": 70.5, "max": 70.5}  # type: ignore[index]


def test_groups_of_families(api: Api, start: int) -> None:
    """`load` is load1, load5 and load15; a group the host has nothing of selects nothing."""
    samples = [("load1", 0.5), ("load5", 0.4), ("load15", 0.3), ("net.rx[eth0]", 10.0)]
    samples += [("net.tx[eth0]", 5.0), ("cpu", 1.0)]
    api.client.portal.call(api.app_state.tsdb.ingest, "db-1", start, samples)
    window = f"agent_id=db-1&from={iso(start)}&to={iso(start)}&resolution=raw"
    body = get(api, f"/api/v1/history?{window}&metrics=load,net,gpu")
    keys = ["load1", "load15", "load5", "net.rx[eth0]", "net.tx[eth0]"]  # in key order
    assert body["metrics"] == keys and list(body["data"][0]) == ["timestamp", *keys]  # type: ignore[index]
    reply = api.client.get(f"/api/v1/history?{window}&metrics=loads", headers=api.as_("charlie"))
    assert reply.status_code == 400 and reply.json()["code"] == "UNKNOWN_METRIC"


def test_auto_resolution_and_range_shorthand(api: Api, start: int) -> None:
    assert get(api, "/api/v1/history?agent_id=web-1&range=7d")["resolution"] == "5m"
    assert get(api, "/api/v1/history?agent_id=web-1&range=15m")["resolution"] == "raw"
    body = get(api, "/api/v1/history?agent_id=web-1&range=24h&metrics=cpu")
    assert body["resolution"] == "1m" and len(body["data"]) >= 10  # type: ignore[arg-type]


def test_a_range_beyond_retention_answers_the_effective_bounds(api: Api, start: int) -> None:
    body = get(api, "/api/v1/history?agent_id=web-1&from=2020-01-01T00:00:00Z&resolution=raw")
    effective = datetime.fromisoformat(str(body["from"]).replace("Z", "+00:00"))
    assert effective.year >= 2026 and body["data"]


def test_a_span_wholly_before_retention_is_empty_with_bounds_in_order(api: Api, start: int) -> None:
    body = get(api, "/api/v1/history?agent_id=web-1&from=0&to=1&resolution=raw")
    assert body["from"] == body["to"] == "1970-01-01T00:00:01Z" and body["data"] == []


def test_metrics_of_only_commas_selects_every_series(api: Api, start: int) -> None:
    every = get(api, "/api/v1/history?agent_id=web-1&range=15m")["metrics"]
    assert get(api, "/api/v1/history?agent_id=web-1&range=15m&metrics=,,")["metrics"] == every


def test_a_family_the_host_lacks_selects_nothing(api: Api, start: int) -> None:
    """A dashboard asks every host for GPUs and temperatures; hosts without them answer the
    rest rather than an error."""
    body = get(api, "/api/v1/history?agent_id=web-1&range=15m&metrics=cpu,gpu.util,temp")
    assert body["metrics"] == ["cpu"] and body["data"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "INVALID_RANGE"),
        ("from=yesterday", 400, "INVALID_TIME"),
        ("range=1h&from=2026-01-01T00:00:00Z", 400, "INVALID_RANGE"),
        ("metrics=cpu,nonsense", 400, "UNKNOWN_METRIC"),
        ("metrics=disk[/nope]", 400, "UNKNOWN_METRIC"),
        ("resolution=2m", 422, "VALIDATION_ERROR"),
        ("range=3d", 422, "VALIDATION_ERROR"),
        ("agent_id=nowhere", 404, "AGENT_NOT_FOUND"),
    ],
)
def test_bad_input_is_refused_in_the_error_format(
    api: Api, start: int, query: str, status: int, code: str
) -> None:
    sep = "&" if "agent_id" not in query else ""
    path = f"/api/v1/history?{query}{sep}{'agent_id=web-1' if sep else ''}"
    reply = api.client.get(path, headers=api.as_("charlie"))
    assert reply.status_code == status and reply.json()["code"] == code


def test_history_export_is_csv_with_one_column_per_series(api: Api, start: int) -> None:
    window = f"from={iso(start)}&to={iso(start + 599_999)}"
    reply = api.client.get(
        f"/api/v1/export/metrics?format=csv&agent_id=web-1&{window}&resolution=raw",
        headers=api.as_("charlie"),
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["timestamp", "cpu", "disk[/]", "disk[/data]", "memory"]
    assert len(rows) == 61 and rows[5] == [iso(start + 40_000), "4.0", "10.0", "70.5", "40.0"]


def store_queries(api: Api, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at each query the store answers from now on."""
    tsdb = api.app_state.tsdb
    windows: list[int] = []
    query = tsdb.query

    async def counted(*args: object, **kwargs: object) -> object:
        windows.append(1)
        return await query(*args, **kwargs)

    monkeypatch.setattr(tsdb, "query", counted)
    return windows


def test_an_export_from_long_ago_reads_only_what_is_kept(
    api: Api, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`from=0` at raw: the hours since 1970 are not walked one empty window at a time."""
    windows = store_queries(api, monkeypatch)
    reply = api.client.get(
        "/api/v1/export/metrics?format=csv&agent_id=web-1&from=0&resolution=raw&metrics=cpu",
        headers=api.as_("charlie"),
    )
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["timestamp", "cpu"] and len(rows) == 61
    assert len(windows) <= 25  # a day of raw retention, an hour a window


def test_an_export_into_the_future_stops_at_now(
    api: Api, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = store_queries(api, monkeypatch)
    reply = api.client.get(
        f"/api/v1/export/metrics?format=csv&agent_id=web-1&from={iso(start)}"
        "&to=2099-01-01T00:00:00Z&resolution=raw&metrics=cpu",
        headers=api.as_("charlie"),
    )
    assert len(list(csv.reader(io.StringIO(reply.text)))) == 61
    assert len(windows) <= 3  # the hour or two since `start`, not every hour until 2099


def test_current_snapshot_export(api: Api) -> None:
    headers = api.as_("charlie")
    snapshot = api.client.get("/api/v1/export/metrics?format=json", headers=headers).json()
    assert "cpu" in snapshot and "memory" in snapshot
    text = api.client.get("/api/v1/export/metrics?format=csv", headers=headers).text
    header, values = list(csv.reader(io.StringIO(text)))
    assert header[:2] == ["timestamp", "cpu"] and len(values) == len(header)


def test_store_statistics(api: Api, start: int) -> None:
    fresh = get(api, "/api/v1/metrics-store/stats")  # every sample still in memory and the WAL
    assert fresh["uncompacted_samples"] == fresh["samples"]["raw"] >= 240  # type: ignore[index]
    assert fresh["oldest_sample"]["raw"] == iso(start)  # type: ignore[index]
    api.client.portal.call(api.app_state.tsdb.compact)
    stats = get(api, "/api/v1/metrics-store/stats")
    assert stats["series"] >= 4 and stats["series_ended"] == 0  # type: ignore[operator]
    assert stats["samples"]["raw"] >= 240 and stats["samples"]["1m"] >= 40  # type: ignore[index]
    assert stats["oldest_sample"]["raw"] <= iso(start)  # type: ignore[index]
    assert stats["database_bytes"] > 0 and stats["last_rollup"]  # type: ignore[operator]
    assert stats["rolled_up_until"].endswith(":00:00Z")  # type: ignore[union-attr]
    assert stats["retention_seconds"] == {"raw": 86400, "1m": 604800, "5m": 2592000, "1h": 34560000}


def test_history_needs_a_login(api: Api) -> None:
    assert api.client.get("/api/v1/history").status_code == 401


def test_the_local_host_is_recorded_and_kept_across_restarts(settings: Settings) -> None:
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    with TestClient(create_app(settings)) as client:
        client.portal.call(client.app.state.monitor.tick)  # type: ignore[attr-defined]
        client.portal.call(client.app.state.monitor.tick)  # type: ignore[attr-defined]
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/login", json=login).json()["token"]
        body = client.get(
            "/api/v1/history?range=5m&resolution=raw&metrics=cpu,memory",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert len(body["data"]) >= 2 and "memory" in body["data"][0]
    assert not list((settings.data_dir / "tsdb-wal").glob("*.wal"))[1:]


def test_running_containers_have_cpu_and_memory_history(api: Api) -> None:
    """Each running container's CPU and memory (MiB) is a series of its host, as Beszel keeps;
    a stopped container's series pause instead of dropping to zero."""
    from fleetdeck.fleet.hub import effective_config

    hub = api.app_state.hub
    containers = [
        {"id": "a1", "name": "web", "image": "nginx", "status": "running", "cpu": 150.5,
         "memory": 64 * 1024 * 1024},
        {"id": "b2", "name": "old", "image": "redis", "status": "exited", "cpu": 0.0,
         "memory": 0},
    ]  # fmt: skip
    snapshot = {
        "timestamp": iso(now_ms()),
        "cpu": {"totalUsage": 5.0},
        "docker": {"available": True, "containers": containers},
    }

    async def report() -> None:
        hub.approved("box-1", effective_config({"interval": 5}))
        assert await hub.report("box-1", now_ms() - 1000, snapshot)

    api.client.portal.call(report)
    metrics = "cpu,container.cpu,container.memory"
    body = get(api, f"/api/v1/history?agent_id=box-1&range=5m&resolution=raw&metrics={metrics}")
    assert body["metrics"] == ["cpu", "container.cpu[web]", "container.memory[web]"]
    (point,) = body["data"]  # type: ignore[misc]
    assert point["container.cpu[web]"]["avg"] == 150.5
    assert point["container.memory[web]"]["avg"] == 64.0
