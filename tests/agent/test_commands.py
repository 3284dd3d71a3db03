"""What an agent answers to process requests it cannot or will not run."""

from __future__ import annotations

import os

import pytest

from fleetdeck.agent import commands


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"action": "details"}, "INVALID_REQUEST"),
        ({"action": "details", "pid": True}, "INVALID_REQUEST"),
        ({"action": "restart", "pid": 1234}, "INVALID_REQUEST"),
        ({"action": "signal", "pid": 1234, "signal": "SIGSEGV"}, "INVALID_SIGNAL"),
        ({"action": "signal", "pid": os.getpid(), "signal": 15}, "PROCESS_PROTECTED"),
        ({"action": "details", "pid": 2**22 + 1}, "PROCESS_NOT_FOUND"),
    ],
)
def test_refusals_carry_the_codes_the_server_passes_on(
    message: dict[str, object], code: str
) -> None:
    with pytest.raises(commands.Refusal) as refused:
        commands.process_action(message)
    assert refused.value.code == code


def test_details_of_a_live_process() -> None:
    assert commands.process_action({"action": "details", "pid": os.getpid()})["pid"] == os.getpid()
