"""GET /api/v1/stream: live metrics as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from fleetdeck import sse
from fleetdeck.api.deps import HubDep, MonitorDep, known_agent, require_on_host
from fleetdeck.auth.service import Principal
from fleetdeck.fleet.hub import metrics_topic
from fleetdeck.fleet.local import LOCAL_AGENT_ID

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
    hub: HubDep,
    _: Annotated[Principal, Depends(require_on_host("metrics:read"))],
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    """`event: metrics` with the complete metrics structure at every refresh (or report, for
    `agent_id` of a connected agent)."""
    host = known_agent(agent_id, hub)
    subscription = monitor.bus.subscribe(metrics_topic(host))
    first = monitor.latest_frame if host == LOCAL_AGENT_ID else hub.latest_frame(host)

    async def events() -> AsyncIterator[bytes]:
        remote = host != LOCAL_AGENT_ID
        if remote:
            await hub.watch(host)
        try:
            if first is not None:
                yield first
            while True:
                try:
                    yield await asyncio.wait_for(subscription.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield sse.KEEPALIVE
        finally:
            subscription.close()
            if remote:
                hub.unwatch(host)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
