"""The agent's report buffer: bounded, oldest dropped first, forgotten only when acknowledged;
and the agent's live mode while watched."""

from __future__ import annotations

import json
from pathlib import Path

from fleetdeck.agent import identity, protocol
from fleetdeck.agent.runner import Runner, websocket_url


def runner(tmp_path: Path, size: int) -> Runner:
    identity.load_or_create(tmp_path)
    identity.save_state(tmp_path, {"server": "https://fleet.example:8080", "agent_id": "a"})
    return Runner(tmp_path, buffer_reports=size)


def test_the_buffer_drops_the_oldest_and_keeps_the_unacknowledged(tmp_path: Path) -> None:
    agent = runner(tmp_path, 3)
    for ts in range(1, 6):
        agent.add_report(ts, {"cpu": {"totalUsage": float(ts)}})
    assert agent.dropped == 2
    assert [seq for seq, _ in agent.buffer] == [3, 4, 5]
    assert json.loads(agent.buffer[0][1])["snapshot"]["cpu"]["totalUsage"] == 3.0
    agent._acknowledged(4)
    assert [seq for seq, _ in agent.buffer] == [5]


def test_live_mode_shortens_the_interval_until_it_ends(tmp_path: Path) -> None:
    agent = runner(tmp_path, 10)
    agent.apply({"interval": 30})
    assert agent.interval == 30
    agent.go_live(1.0)
    assert agent.interval == 1.0
    agent.go_live(None)
    assert agent.interval == 30


def test_the_socket_url_follows_the_scheme() -> None:
    assert (
        websocket_url("https://fleet.example:8080/") == "wss://fleet.example:8080" + protocol.PATH
    )
    assert websocket_url("http://10.0.0.5:8080") == "ws://10.0.0.5:8080" + protocol.PATH


def test_a_rotation_in_flight_is_finished_with_the_next_key(tmp_path: Path) -> None:
    old = identity.load_or_create(tmp_path)
    identity.save_state(tmp_path, {"server": "http://x", "agent_id": "a", "fingerprint": "f"})
    new = identity.prepare_next(tmp_path)
    assert (
        identity.has_next(tmp_path)
        and (tmp_path / "agent.key.next").stat().st_mode & 0o777 == 0o600
    )
    promoted = identity.promote_next(tmp_path)
    assert promoted.fingerprint == new.fingerprint != old.fingerprint
    assert identity.load_state(tmp_path)["fingerprint"] == new.fingerprint  # type: ignore[index]
    assert not identity.has_next(tmp_path)
