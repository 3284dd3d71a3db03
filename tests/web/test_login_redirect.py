"""After signing in, the login page sends the browser back where it came from, and never to
another site."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import ADMIN_PASSWORD, Api


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/hosts/local?range=4h", "/hosts/local?range=4h"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),  # browsers read a backslash as a slash
        ("/\t/evil.example", "/"),  # and drop tabs and newlines
        ("/\n/evil.example", "/"),
        ("https://evil.example/", "/"),
        ("evil.example", "/"),
    ],
)
def test_the_login_page_only_returns_to_this_server(api: Api, asked: str, sent_to: str) -> None:
    signed_in = api.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert signed_in.status_code == 200
    reply = api.client.get(f"/login?next={quote(asked, safe='')}", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == sent_to
