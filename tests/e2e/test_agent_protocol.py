"""The agent socket spoken by hand over a real connection: a malformed report is answered and
the connection lives on, a bad signature closes it; registration rules approve into groups."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from fleetdeck.agent import protocol
from fleetdeck.agent.identity import Identity
from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "agent-protocol-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"FLEETDECK_ADMIN_PASSWORD": PASSWORD, "FLEETDECK_API_RATE_LIMIT": "0"}
    proc = ServerProcess(tmp_path_factory.mktemp("protocol") / "data", env=env)
    yield proc
    if proc.proc.poll() is None:
        proc.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=20) as c:
        login = c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        c.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield c


def enrol(client: httpx2.Client, hostname: str) -> tuple[Identity, dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    me = Identity(Ed25519PrivateKey.generate())
    token = client.post("/api/v1/agents/enrollment-tokens", json={}).json()["token"]
    reply = client.post(
        "/api/v1/agents/enroll",
        json={"token": token, "hostname": hostname, "public_key": me.public_key_b64},
    )
    assert reply.status_code == 201, reply.text
    return me, reply.json()


def hello(ws: ClientConnection, me: Identity, agent_id: str) -> dict[str, Any]:
    challenge = protocol.decode(ws.recv(timeout=5))
    assert challenge["type"] == "challenge"
    nonce = base64.b64decode(challenge["nonce"])
    signature = me.sign(protocol.hello_payload(nonce, agent_id))
    ws.send(protocol.encode("hello", agent_id=agent_id, signature=signature, facts={}))
    return protocol.decode(ws.recv(timeout=5))


def ws_url(server: ServerProcess) -> str:
    return server.url.replace("http://", "ws://") + protocol.PATH


def test_malformed_messages_are_answered_and_the_link_survives(
    server: ServerProcess, client: httpx2.Client
) -> None:
    me, enrolled = enrol(client, "proto-good")
    agent_id = enrolled["agent_id"]
    client.post(f"/api/v1/agents/pending/{agent_id}/approve").raise_for_status()
    with connect(ws_url(server)) as ws:
        welcome = hello(ws, me, agent_id)
        assert welcome["type"] == "welcome" and welcome["config"]["interval"] == 5.0
        for bad in (b"not json", b'{"v": 99, "type": "report"}', protocol.encode("launch"),
                    protocol.encode("report", seq=1)):  # fmt: skip
            ws.send(bad)
            answer = protocol.decode(ws.recv(timeout=5))
            assert answer["type"] == "error", answer
        # A report whose values cannot be stored is acknowledged (resending cannot help).
        ws.send(protocol.encode("report", seq=2, ts=1, snapshot={"cpu": {"totalUsage": "x"}}))
        kinds = {protocol.decode(ws.recv(timeout=5))["type"] for _ in range(2)}
        assert kinds == {"error", "ack"}
        import time

        now = int(time.time() * 1000)
        snapshot = {"cpu": {"totalUsage": 12.5}, "memory": {"usedPercent": 40.0}}
        ws.send(protocol.encode("report", seq=3, ts=now, snapshot=snapshot))
        assert protocol.decode(ws.recv(timeout=5)) == {"v": 1, "type": "ack", "seq": 3}
    history = client.get(
        "/api/v1/history", params={"agent_id": agent_id, "range": "5m", "resolution": "raw"}
    ).json()
    assert history["data"][-1]["cpu"]["avg"] == 12.5


def test_a_bad_signature_or_unknown_agent_closes_the_link(
    server: ServerProcess, client: httpx2.Client
) -> None:
    me, enrolled = enrol(client, "proto-bad")
    agent_id = enrolled["agent_id"]
    client.post(f"/api/v1/agents/pending/{agent_id}/approve").raise_for_status()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    impostor = Identity(Ed25519PrivateKey.generate())
    with connect(ws_url(server)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            hello(ws, impostor, agent_id)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == protocol.CLOSE_REFUSED
    with connect(ws_url(server)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            hello(ws, me, "nobody-here")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == protocol.CLOSE_UNKNOWN
    audit = client.get("/api/v1/audit", params={"action": "agents.connect"}).json()
    assert any(e["success"] is False for e in audit["events"]), audit


def test_registration_rules_approve_matching_hosts_into_groups(client: httpx2.Client) -> None:
    client.post("/api/v1/groups", json={"id": "lab", "name": "Lab"}).raise_for_status()
    missing = client.post("/api/v1/registration-rules", json={"name": "x"})
    assert missing.status_code == 422
    bad_range = client.post(
        "/api/v1/registration-rules", json={"name": "x", "address_range": "10.0.0.300/8"}
    )
    assert bad_range.status_code == 422
    unknown_group = client.post(
        "/api/v1/registration-rules",
        json={"name": "x", "hostname_pattern": "lab-*", "groups": ["nope"]},
    )
    assert unknown_group.status_code == 400 and unknown_group.json()["code"] == "GROUP_NOT_FOUND"
    rule = client.post(
        "/api/v1/registration-rules",
        json={"name": "Lab boxes", "hostname_pattern": "lab-*", "address_range": "127.0.0.0/8",
              "groups": ["lab"]},
    )  # fmt: skip
    assert rule.status_code == 201, rule.text
    _, matched = enrol(client, "lab-07")
    assert matched["status"] == "approved"
    listed = client.get(f"/api/v1/agents/{matched['agent_id']}").json()
    assert listed["groups"] == ["lab"]
    _, other = enrol(client, "db-01")
    assert other["status"] == "pending"
    rule_id = rule.json()["id"]
    changed = client.put(
        f"/api/v1/registration-rules/{rule_id}",
        json={"name": "Lab boxes", "address_range": "10.0.0.0/8"},
    )
    assert changed.status_code == 200 and changed.json()["hostname_pattern"] is None
    _, outside = enrol(client, "lab-08")
    assert outside["status"] == "pending"  # 127.0.0.1 is not in 10.0.0.0/8
    assert client.delete(f"/api/v1/registration-rules/{rule_id}").status_code == 204
    assert client.get(f"/api/v1/registration-rules/{rule_id}").status_code == 404
