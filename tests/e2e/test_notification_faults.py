"""Fault test: alerts fire while the webhook receiver is down, the server restarts in the middle
of its retries, the receiver comes back: every message arrives once, signed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest

from fleetdeck.notify.webhook import SIGNATURE_HEADER, verify
from tests.e2e.test_server_process import ServerProcess
from tests.receivers import Receiver

pytestmark = pytest.mark.e2e

PASSWORD = "faults-admin-password"
SECRET = "fault-test-webhook-secret"
ENV = {
    "FLEETDECK_ADMIN_PASSWORD": PASSWORD,
    "FLEETDECK_NOTIFY_ALLOW_PRIVATE": "1",
    "FLEETDECK_NOTIFY_RETRY_BASE": "0.3",
    "FLEETDECK_NOTIFY_MAX_ATTEMPTS": "50",
}


def _headers(server: ServerProcess) -> dict[str, str]:
    reply = httpx2.post(
        server.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_messages_survive_a_receiver_outage_and_a_restart(tmp_path: Path) -> None:
    receiver = Receiver()  # not started: deliveries fail with connection refused
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, env=ENV)
    try:
        headers = _headers(server)
        hook = httpx2.post(
            server.url + "/api/v1/notifications/webhooks",
            json={"name": "ops", "url": receiver.url, "secret": SECRET},
            headers=headers,
        )
        assert hook.status_code == 201, hook.text
        for name, metric in (("Processes", "processes"), ("Memory", "memory"), ("Load", "load1")):
            rule = httpx2.post(
                server.url + "/api/v1/alerts/rules",
                json={"name": name, "metric": metric, "comparison": ">=", "warning": 0,
                      "for_seconds": 0},
                headers=headers,
            )  # fmt: skip
            assert rule.status_code == 201, rule.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            history = httpx2.get(
                server.url + "/api/v1/notifications/webhook-history", headers=headers
            ).json()["messages"]
            if len(history) == 3 and all(m["attempts"] >= 1 for m in history):
                break
            time.sleep(0.1)
        assert len(history) == 3 and all(m["status"] == "pending" for m in history), history
    finally:
        server.stop()

    receiver.start()
    server = ServerProcess(data_dir, env=ENV)
    try:
        headers = _headers(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(receiver.received) < 3:
            time.sleep(0.1)
        stats = httpx2.get(server.url + "/api/v1/notifications/queue/stats", headers=headers)
        time.sleep(1.5)  # anything sent twice would arrive in this time
        assert len(receiver.received) == 3, [r.json()["text"] for r in receiver.received]
        assert all(verify(SECRET, r.body, r.headers[SIGNATURE_HEADER]) for r in receiver.received)
        series = sorted(r.json()["alert"]["series"] for r in receiver.received)
        assert series == ["load1", "memory", "processes"]
        assert stats.json()["dead"] == 0
    finally:
        server.stop()
        receiver.stop()
