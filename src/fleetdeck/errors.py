"""Domain errors. Services raise them; the API turns them into `{"error","code","details"}`."""

from __future__ import annotations

from typing import Any


class FleetdeckError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class Invalid(FleetdeckError):
    status = 400
    code = "BAD_REQUEST"


class Unauthorized(FleetdeckError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(FleetdeckError):
    status = 403
    code = "FORBIDDEN"


class NotFound(FleetdeckError):
    status = 404
    code = "NOT_FOUND"


class Conflict(FleetdeckError):
    status = 409
    code = "CONFLICT"


class TooManyRequests(FleetdeckError):
    """429: rate limit or lockout. `retry_after` seconds becomes the `Retry-After` header."""

    status = 429
    code = "RATE_LIMITED"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.headers = {"Retry-After": str(max(1, retry_after)), **(headers or {})}
