"""GET /health: liveness without authentication."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel

from fleetdeck import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    uptime: int


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    started: float = request.app.state.started_monotonic
    return Health(status="ok", version=__version__, uptime=int(time.monotonic() - started))
