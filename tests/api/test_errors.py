"""Every error is `{"error","code","details"}`; bodies are size-limited."""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import Api


def _is_error_format(body: dict[str, object]) -> bool:
    return set(body) == {"error", "code", "details"} and isinstance(body["error"], str)


def test_unknown_route_is_404_in_the_error_format(api: Api) -> None:
    reply = api.client.get("/api/v1/no-such-thing")
    assert reply.status_code == 404 and _is_error_format(reply.json())
    assert reply.json()["code"] == "NOT_FOUND"


def test_wrong_method_is_405_in_the_error_format(api: Api) -> None:
    reply = api.client.delete("/health")
    assert reply.status_code == 405 and _is_error_format(reply.json())


def test_validation_errors_name_the_fields(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/settings/refresh", json={"interval": 0}, headers=api.as_("alice")
    )
    assert reply.status_code == 422 and _is_error_format(reply.json())
    (field,) = reply.json()["details"]["fields"]
    assert field["location"] == "body" and field["field"] == "interval"


def test_malformed_json_is_422_not_500(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422 and _is_error_format(reply.json())


def test_declared_oversized_body_is_413(api: Api) -> None:
    reply = api.client.post(
        "/api/v1/auth/login",
        content=b"x" * (api.app_state.settings.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == 413 and reply.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_streamed_oversized_body_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    reply = api.client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413 and _is_error_format(reply.json())


def test_health_needs_no_login(api: Api) -> None:
    body = api.client.get("/health").json()
    assert body["status"] == "ok" and isinstance(body["uptime"], int) and body["version"]


def test_openapi_document_is_served(api: Api) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/stream" in doc["paths"] and "/api/v1/processes/{pid}/signal" in doc["paths"]
