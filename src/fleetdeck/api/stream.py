"""GET /api/v1/stream: live metrics as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from fleetdeck import sse
from fleetdeck.api.deps import MonitorDep, live_local_only, require_on_host
from fleetdeck.auth.service import Principal
from fleetdeck.fleet.local import METRICS_TOPIC

router = APIRouter(tags=["metrics"])

KEEPALIVE_SECONDS = 15.0


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`event: metrics`"}},
)
async def stream(
    request: Request,
    monitor: MonitorDep,
    _: Annotated[Principal, Depends(require_on_host("metrics:read"))],
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    """`event: metrics` with the complete metrics structure at every refresh."""
    live_local_only(agent_id)
    subscription = monitor.bus.subscribe(METRICS_TOPIC)

    async def events() -> AsyncIterator[bytes]:
        try:
            if monitor.latest_frame is not None:
                yield monitor.latest_frame
            while True:
                try:
                    yield await asyncio.wait_for(subscription.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield sse.KEEPALIVE
        finally:
            subscription.close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
