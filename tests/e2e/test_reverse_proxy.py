"""Behind a reverse proxy every request comes from the proxy's address. With `trusted_proxies`
the server takes the client's address and scheme from the proxy's headers (for rate limits,
lockout, audit and secure cookies); without it, those headers are nobody's to set."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "proxy-admin-password"
# Documentation addresses (RFC 5737): they only ever appear in headers here.
MALLORY = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
ALICE = {"X-Forwarded-For": "203.0.113.5, 198.51.100.8", "X-Forwarded-Proto": "https"}


def _login(
    client: httpx2.Client, headers: dict[str, str], password: str, username: str = "admin"
) -> httpx2.Response:
    return client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers
    )


def _login_ips(client: httpx2.Client, token: str) -> list[tuple[str, bool]]:
    events = client.get(
        "/api/v1/audit",
        params={"action": "auth.login", "limit": 50},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["events"]
    return [(e["ip"], e["success"]) for e in reversed(events)]


def test_behind_a_trusted_proxy_one_client_s_failures_do_not_lock_out_the_others(
    tmp_path: Path,
) -> None:
    env = {"FLEETDECK_ADMIN_PASSWORD": PASSWORD, "FLEETDECK_TRUSTED_PROXIES": "127.0.0.1"}
    server = ServerProcess(tmp_path / "data", env=env)
    try:
        with httpx2.Client(base_url=server.url, timeout=10) as client:
            for _ in range(5):
                assert _login(client, MALLORY, "wrong", "nobody").status_code == 401
            # Mallory's address is locked out, even with the right password...
            assert _login(client, MALLORY, PASSWORD).status_code == 429
            # ...and only Mallory's: without the setting, every client is the proxy.
            ok = _login(client, ALICE, PASSWORD)
            assert ok.status_code == 200, ok.text
            # The proxy said the client came over HTTPS: the session cookies are Secure.
            cookies = ok.headers.get_list("set-cookie")
            assert cookies and all("Secure" in c for c in cookies), cookies
            ips = _login_ips(client, ok.json()["token"])
        # The address the proxy saw (the rightmost untrusted one), not the proxy's own.
        assert ("198.51.100.8", True) in ips
        assert ("198.51.100.7", False) in ips
        assert all(ip != "127.0.0.1" for ip, _ in ips), ips
    finally:
        server.stop()


def test_without_trusted_proxies_forwarded_headers_are_ignored(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"FLEETDECK_ADMIN_PASSWORD": PASSWORD})
    try:
        with httpx2.Client(base_url=server.url, timeout=10) as client:
            ok = _login(client, ALICE, PASSWORD)  # a client claiming to be someone else
            assert ok.status_code == 200, ok.text
            assert not any("Secure" in c for c in ok.headers.get_list("set-cookie"))
            assert _login_ips(client, ok.json()["token"]) == [("127.0.0.1", True)]
    finally:
        server.stop()
