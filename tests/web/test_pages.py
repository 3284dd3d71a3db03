"""What a browser gets for an address that names nothing."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD, Api


def test_an_unknown_host_is_a_page_not_a_json_error(api: Api) -> None:
    api.client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    reply = api.client.get("/hosts/nowhere")
    assert reply.status_code == 404 and reply.headers["content-type"].startswith("text/html")
    assert "No such host" in reply.text and "<code>nowhere</code>" in reply.text
    assert api.client.get("/hosts/local").status_code == 200


def test_the_agents_page_gives_the_servers_own_host_its_interval(api: Api) -> None:
    api.client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    page = api.client.get("/agents").text
    local_row = page[page.index('<a href="/hosts/local">') :].split("</tr>", 1)[0]
    assert "<td>1.0 s</td>" in local_row  # the tests' refresh interval
