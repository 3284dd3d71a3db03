"""Fault test: the server is killed (SIGKILL: no shutdown, no last flush) while it records the
local host's history, once early and once after a compaction was due. Every sample it had
answered more than a flush interval before a kill is there after the restart, the store keeps
growing, and SQLite's integrity check passes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx2
import pytest

from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "crash-admin-password"
ENV = {"FLEETDECK_ADMIN_PASSWORD": PASSWORD, "FLEETDECK_TSDB_COMPACTION_INTERVAL": "10"}


def _headers(server: ServerProcess) -> dict[str, str]:
    reply = httpx2.post(
        server.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def _raw_points(server: ServerProcess, headers: dict[str, str]) -> dict[str, float]:
    body = httpx2.get(
        server.url + "/api/v1/history?range=15m&resolution=raw&metrics=cpu", headers=headers
    ).json()
    return {p["timestamp"]: p["cpu"]["avg"] for p in body["data"] if "cpu" in p}


def _kill(server: ServerProcess) -> None:
    server.proc.kill()
    server.proc.wait(timeout=10)
    server.log.close()


def test_a_killed_server_keeps_every_sample_it_had_flushed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seen: dict[str, float] = {}
    for uptime in (3.0, 12.0):  # the second kill comes after the first compaction was due
        server = ServerProcess(data_dir, env=ENV)
        try:
            headers = _headers(server)
            time.sleep(uptime)
            points = _raw_points(server, headers)
            lost = {ts: v for ts, v in seen.items() if points.get(ts) != v}
            assert not lost, f"lost or changed after the kill: {lost}"
            assert len(points) > len(seen), "nothing new was recorded"
            seen = points
            time.sleep(1.5)  # more than the flush interval (1 s): all of `seen` is on disk
        finally:
            _kill(server)
    server = ServerProcess(data_dir, env=ENV)
    try:
        headers = _headers(server)
        points = _raw_points(server, headers)
        lost = {ts: v for ts, v in seen.items() if points.get(ts) != v}
        assert not lost, f"lost or changed after the kill: {lost}"
        stats = httpx2.get(server.url + "/api/v1/metrics-store/stats", headers=headers).json()
        assert stats["samples"]["1m"] > 0, stats  # a compaction ran before a kill, and counted
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "fleetdeck.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
