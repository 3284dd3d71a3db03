"""Alerts as Tyto shapes them, rules, and notifications delivered to a real HTTP receiver:
signed, retried, dead-lettered and retried again, never twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import create_app
from fleetdeck.notify.webhook import SIGNATURE_HEADER, verify
from tests.conftest import Api, admin_headers, make_settings
from tests.receivers import Receiver

SECRET = "a-webhook-secret-of-some-length"


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(
        tmp_path, notify_allow_private=True, notify_retry_base=0.05, notify_max_attempts=3
    )
    with TestClient(create_app(settings)) as c:
        yield c, admin_headers(c)


def test_alerts_answer_the_tyto_shape_and_thresholds_change(api: Api) -> None:
    admin = api.as_("alice")
    body = api.client.get("/api/v1/alerts", headers=admin).json()
    assert body == {
        "alerts": [],
        "config": {
            "cpu": {"warning": 80.0, "critical": 95.0},
            "memory": {"warning": 85.0, "critical": 95.0},
            "disk": {"warning": 80.0, "critical": 90.0},
        },
    }
    new = {"cpu": {"warning": 70, "critical": 90}, "memory": {"warning": 80, "critical": 95},
           "disk": {"warning": 85, "critical": 95}}  # fmt: skip
    assert api.client.post("/api/v1/alerts/config", json=new, headers=admin).status_code == 200
    config = api.client.get("/api/v1/alerts", headers=admin).json()["config"]
    assert config["cpu"] == {"warning": 70.0, "critical": 90.0}
    bad = {**new, "cpu": {"warning": 90, "critical": 70}}
    reply = api.client.post("/api/v1/alerts/config", json=bad, headers=admin)
    assert reply.status_code == 422 and reply.json()["code"] == "VALIDATION_ERROR"
    denied = api.client.post("/api/v1/alerts/config", json=new, headers=api.as_("bob"))
    assert denied.status_code == 403


def test_rules_are_validated_and_builtins_protected(api: Api) -> None:
    admin = api.as_("alice")
    unknown = api.client.post(
        "/api/v1/alerts/rules", json={"name": "x", "metric": "bogus", "warning": 1}, headers=admin
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "UNKNOWN_METRIC"
    no_level = api.client.post(
        "/api/v1/alerts/rules", json={"name": "x", "metric": "temp"}, headers=admin
    )
    assert no_level.status_code == 422
    created = api.client.post(
        "/api/v1/alerts/rules",
        json={"name": "Root disk full", "metric": "disk[/]", "warning": 90, "critical": 97,
              "for_seconds": 120, "hysteresis": 2},
        headers=admin,
    )  # fmt: skip
    assert created.status_code == 201 and created.json()["id"] == "root-disk-full"
    rules = api.client.get("/api/v1/alerts/rules", headers=admin).json()["rules"]
    assert [r["id"] for r in rules][:3] == ["cpu", "memory", "disk"]
    builtin = api.client.delete("/api/v1/alerts/rules/cpu", headers=admin)
    assert builtin.status_code == 403 and builtin.json()["code"] == "BUILTIN_RULE"
    assert (
        api.client.delete("/api/v1/alerts/rules/root-disk-full", headers=admin).status_code == 204
    )


def test_webhook_targets_pass_the_ssrf_guard(api: Api, tmp_path: Path) -> None:
    admin = api.as_("alice")
    body = {"name": "local", "url": "http://127.0.0.1:9/hook"}
    private = api.client.post("/api/v1/notifications/webhooks", json=body, headers=admin)
    assert private.status_code == 400 and private.json()["code"] == "TARGET_REFUSED"
    with TestClient(create_app(make_settings(tmp_path / "b", notify_allow_private=True))) as c:
        headers = admin_headers(c)
        assert (
            c.post("/api/v1/notifications/webhooks", json=body, headers=headers).status_code == 201
        )
        metadata = c.post(
            "/api/v1/notifications/webhooks",
            json={"name": "meta", "url": "http://169.254.169.254/latest"},
            headers=headers,
        )
        assert metadata.status_code == 400 and metadata.json()["code"] == "TARGET_REFUSED"
        scheme = c.post(
            "/api/v1/notifications/webhooks",
            json={"name": "ftp", "url": "ftp://127.0.0.1/x"},
            headers=headers,
        )
        assert scheme.status_code == 400 and scheme.json()["code"] == "INVALID_URL"


def test_a_firing_rule_reaches_the_webhook_signed_and_can_be_acknowledged(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    c, headers = client
    hook = c.post(
        "/api/v1/notifications/webhooks",
        json={"name": "ops", "url": receiver.url, "secret": SECRET},
        headers=headers,
    ).json()
    assert hook["has_secret"] is True and "secret" not in hook
    c.post(
        "/api/v1/alerts/rules",
        json={"name": "Any processes", "metric": "processes", "comparison": ">", "warning": 0,
              "for_seconds": 0},
        headers=headers,
    )  # fmt: skip
    got = wait_for(lambda: receiver.received, "the firing notification")[0]
    assert verify(SECRET, got.body, got.headers[SIGNATURE_HEADER])
    assert not verify("another-secret-entirely", got.body, got.headers[SIGNATURE_HEADER])
    message = got.json()
    assert message["event"] == "alert.firing" and message["alert"]["series"] == "processes"
    alerts = c.get("/api/v1/alerts", headers=headers).json()["alerts"]
    (alert,) = [a for a in alerts if a["rule_id"] == "any-processes"]
    assert alert["type"] == "processes" and alert["state"] == "firing"
    assert alert["level"] == "warning" and alert["acknowledged"] is False
    acked = c.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=headers).json()
    assert acked["acknowledged"] is True and acked["acknowledged_by"] == "admin"
    history = c.get(f"/api/v1/alerts/history?alert_id={alert['id']}", headers=headers).json()
    assert [t["to_state"] for t in history["transitions"]] == ["firing"]
    # Disabling the rule resolves the alert, and says so.
    rule = c.get("/api/v1/alerts/rules", headers=headers).json()["rules"][-1]
    c.put(
        "/api/v1/alerts/rules/any-processes",
        json={**{k: v for k, v in rule.items() if k not in ("id", "builtin")}, "enabled": False},
        headers=headers,
    )
    resolved = wait_for(
        lambda: [r for r in receiver.received if r.json()["event"] == "alert.resolved"],
        "the resolved notification",
    )
    assert len(resolved) == 1


def test_failed_deliveries_retry_then_dead_letter_then_deliver_once(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    c, headers = client
    hook = c.post(
        "/api/v1/notifications/webhooks",
        json={"name": "flaky", "url": receiver.url, "secret": SECRET},
        headers=headers,
    ).json()
    receiver.failing = True
    assert c.post("/api/v1/notifications/test", headers=headers).json() == {"queued": 1}

    def dead() -> list[dict[str, Any]]:
        return list(c.get("/api/v1/notifications/dlq", headers=headers).json()["messages"])

    (letter,) = wait_for(dead, "the dead letter")
    assert letter["attempts"] == 3 and letter["last_status"] == 500 and letter["event"] == "test"
    health = c.get("/api/v1/notifications/health", headers=headers).json()
    assert health["healthy"] is False and health["dead"] == 1
    receiver.failing = False
    retried = c.post("/api/v1/notifications/dlq/retry", json={}, headers=headers).json()
    assert retried == {"count": 1}
    wait_for(lambda: receiver.received, "the delivery after the retry")
    wait_for(
        lambda: c.get("/api/v1/notifications/queue/stats", headers=headers).json()["sent"] == 1,
        "the message marked sent",
    )
    assert c.get("/api/v1/notifications/queue/stats", headers=headers).json() == {
        "pending": 0, "sent": 1, "dead": 0,
    }  # fmt: skip
    assert len(receiver.received) == 1
    history = c.get(
        f"/api/v1/notifications/webhook-history?channel_id={hook['id']}", headers=headers
    ).json()
    assert [m["status"] for m in history["messages"]] == ["sent"]
    direct = c.post("/api/v1/notifications/webhooks/test", json={"id": hook["id"]}, headers=headers)
    assert direct.json() == {"delivered": True, "status": 204, "error": None}


def test_a_send_cut_short_by_a_restart_goes_out_at_the_next_start(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The server stops while a receiver holds the request: the next start sends the message
    at once, instead of after the minute's lease that a dead worker's claims wait out."""
    settings = make_settings(tmp_path, notify_allow_private=True)
    receiver.holding = True
    with TestClient(create_app(settings)) as c:
        headers = admin_headers(c)
        c.post(
            "/api/v1/notifications/webhooks",
            json={"name": "slow", "url": receiver.url, "secret": SECRET},
            headers=headers,
        )
        assert c.post("/api/v1/notifications/test", headers=headers).json() == {"queued": 1}
        wait_for(lambda: receiver.held, "the send to reach the receiver")
    receiver.holding = False
    with TestClient(create_app(settings)):
        got = wait_for(lambda: receiver.received, "the message after the restart", timeout=15)
    assert [r.json()["event"] for r in got] == ["test"]
    assert verify(SECRET, got[0].body, got[0].headers[SIGNATURE_HEADER])


def test_templates_shape_the_body_for_chat_services(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    c, headers = client
    listed = c.get("/api/v1/notifications/webhook-templates", headers=headers).json()
    assert [t["id"] for t in listed["templates"]] == [
        "generic",
        "slack",
        "discord",
        "teams",
        "ntfy",
    ]
    slack = c.post(
        "/api/v1/notifications/webhooks",
        json={"name": "slack", "url": receiver.url, "template": "slack"},
        headers=headers,
    ).json()
    ntfy_url = receiver.url.replace("/hook", "/ops-alerts")
    ntfy = c.post(
        "/api/v1/notifications/webhooks",
        json={"name": "ntfy", "url": ntfy_url, "template": "ntfy"},
        headers=headers,
    ).json()
    for hook in (slack, ntfy):
        reply = c.post(
            "/api/v1/notifications/webhooks/test", json={"id": hook["id"]}, headers=headers
        )
        assert reply.json()["delivered"] is True
    first, second = receiver.received
    assert first.path == "/hook" and set(first.json()) == {"text", "attachments"}
    assert second.path == "/" and second.json()["topic"] == "ops-alerts"
    assert second.json()["message"].startswith("fleetdeck test notification")


def test_email_through_a_real_smtp_server(client: tuple[TestClient, dict[str, str]]) -> None:
    from aiosmtpd.controller import Controller

    from tests.servers import free_port

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
            return "250 OK"

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        c, headers = client
        settings = {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                    "from_address": "fleetdeck@example.com", "to": ["ops@example.com"]}  # fmt: skip
        saved = c.put("/api/v1/notifications/email", json=settings, headers=headers)
        assert saved.status_code == 200, saved.text
        assert saved.json()["has_password"] is False
        assert c.post("/api/v1/notifications/test", headers=headers).json() == {"queued": 1}
        (sender, recipients, content) = wait_for(lambda: inbox.messages, "the email")[0]
        assert sender == "fleetdeck@example.com" and recipients == ["ops@example.com"]
        assert b"Subject: [fleetdeck] fleetdeck test notification" in content
    finally:
        smtp.stop()
    bad = c.put(
        "/api/v1/notifications/email", json={**settings, "to": ["not-an-address"]}, headers=headers
    )
    assert bad.status_code == 422


def test_apprise_urls_deliver_and_stay_secret(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    c, headers = client
    url = receiver.url.replace("http://", "json://") + "?token-in-url=s3cret"
    saved = c.put("/api/v1/notifications/apprise", json={"urls": [url]}, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["services"] == ["json"] and "s3cret" not in saved.text
    bad = c.put("/api/v1/notifications/apprise", json={"urls": ["nope://x"]}, headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_URL"
    assert c.post("/api/v1/notifications/test", headers=headers).json() == {"queued": 1}
    got = wait_for(lambda: receiver.received, "the apprise delivery")[0]
    assert got.json()["title"] == "fleetdeck" and "test notification" in got.json()["message"]


def test_alerts_firing_together_arrive_as_one_message(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    c, headers = client
    policy = c.put("/api/v1/notifications/policy", json={"group_seconds": 3}, headers=headers)
    assert policy.status_code == 200 and policy.json()["group_seconds"] == 3
    bad = c.put(
        "/api/v1/notifications/policy", json={"quiet_timezone": "Mars/Base"}, headers=headers
    )
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_TIMEZONE"
    c.post("/api/v1/notifications/webhooks", json={"name": "g", "url": receiver.url},
           headers=headers)  # fmt: skip
    for name, metric in (("Procs", "processes"), ("Mem", "memory")):
        c.post(
            "/api/v1/alerts/rules",
            json={"name": name, "metric": metric, "comparison": ">=", "warning": 0,
                  "for_seconds": 0},
            headers=headers,
        )  # fmt: skip
    got = wait_for(lambda: receiver.received, "the grouped message")
    time.sleep(0.5)
    body = got[0].json()
    assert len(receiver.received) == 1 and body["event"] == "alert.group"
    assert sorted(a["series"] for a in body["alerts"]) == ["memory", "processes"]


def test_a_refusal_is_dead_at_once(
    client: tuple[TestClient, dict[str, str]], receiver: Receiver
) -> None:
    c, headers = client
    c.post("/api/v1/notifications/webhooks", json={"name": "x", "url": receiver.url},
           headers=headers)  # fmt: skip
    receiver.failing, receiver.fail_status = True, 400
    c.post("/api/v1/notifications/test", headers=headers)
    (letter,) = wait_for(
        lambda: c.get("/api/v1/notifications/dlq", headers=headers).json()["messages"],
        "the refused message in the dead letters",
    )
    assert letter["attempts"] == 1 and letter["last_status"] == 400  # 4xx: no retries
