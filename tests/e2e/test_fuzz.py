"""Fuzz the running server with schemathesis from its own OpenAPI document (bounded).

Every generated request must get an answer below 500, and every error must be in the API's
error format. Not fuzzed: the live stream (it never ends) and process signals (random pids
would signal real processes on this machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "fuzz-admin-password"
EXAMPLES = int(os.environ.get("FLEETDECK_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    # The per-user API rate limit would answer 429 to a fuzzer running many examples.
    env = {"FLEETDECK_ADMIN_PASSWORD": ADMIN_PASSWORD, "FLEETDECK_API_RATE_LIMIT": "0"}
    proc = ServerProcess(data_dir, env=env)
    yield proc
    if proc.proc.poll() is None:
        proc.stop()
    proc.log.close()


@pytest.fixture(scope="module")
def api_token(fuzz_server: ServerProcess) -> str:
    """An admin API token: every route is reachable, and logout or refresh cannot end it."""
    with httpx2.Client(base_url=fuzz_server.url) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        session = {"Authorization": f"Bearer {login.json()['token']}"}
        token = client.post(
            "/api/v1/tokens", json={"name": "fuzz", "scopes": ["*"]}, headers=session
        )
        assert token.status_code == 201, token.text
        return str(token.json()["token"])


def _operations(url: str) -> list[object]:
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    return [
        op
        for op in operations
        if op.path not in ("/api/v1/stream", "/api/v1/processes/{pid}/signal")  # type: ignore[attr-defined]
    ]


def test_no_server_errors_and_errors_in_the_api_format(
    fuzz_server: ServerProcess, api_token: str
) -> None:
    operations = _operations(fuzz_server.url)
    assert len(operations) > 30
    calls = 0
    for operation in operations:

        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=fuzz_server.url, headers={"X-API-Token": api_token})
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error", "code", "details"}, (case.as_curl_command(), body)
                assert body["code"].isupper() and body["error"]

        fuzz()
    assert calls >= len(operations)
