"""GET /api/v1/stream: live metrics as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from fleetdeck import sse
from fleetdeck.api.deps import (
    DatabaseDep,
    GroupsDep,
    HubDep,
    MonitorDep,
    known_agent,
    require_any_host,
    require_on_host,
)
from fleetdeck.auth.service import Principal
from fleetdeck.bus.memory import Subscription
from fleetdeck.errors import NotFound
from fleetdeck.fleet.hub import metrics_topic
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.fleet.summary import FLEET_TOPIC, summary_frame
from fleetdeck.store import groups

router = APIRouter(tags=["metrics"])

KEEPALIVE_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _frames(
    subscription: Subscription,
    first: list[bytes],
    visible: Callable[[bytes], bool] = lambda _: True,
) -> AsyncIterator[bytes]:
    """The first frames, then each published frame the caller may see, with keep-alives."""
    for frame in first:
        if visible(frame):
            yield frame
    while True:
        try:
            frame = await asyncio.wait_for(subscription.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            yield sse.KEEPALIVE
            continue
        if visible(frame):
            yield frame


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
            async for frame in _frames(subscription, [first] if first is not None else []):
                yield frame
        finally:
            subscription.close()
            if remote:
                hub.unwatch(host)

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)


@router.get(
    "/stream/fleet",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`event: summary`"}},
)
async def stream_fleet(
    request: Request,
    monitor: MonitorDep,
    hub: HubDep,
    index: GroupsDep,
    db: DatabaseDep,
    principal: Annotated[Principal, Depends(require_any_host("metrics:read"))],
    group: Annotated[str | None, Query(max_length=64, description="Only this host group.")] = None,
) -> StreamingResponse:
    """Every host the caller may watch, in one stream: `event: summary` per report
    (`agent_id`, `hostname`, `timestamp`, `cpu`, `memory`, `disk` in %, `rx`, `tx` in B/s) and
    `event: status` when an agent goes online or offline. Unlike `/stream`, watching this
    does not switch hosts to every-second reports."""
    if group is not None:
        async with db.read() as conn:
            if await groups.get(conn, group) is None:
                raise NotFound(f"no group {group!r}", code="GROUP_NOT_FOUND")
    everywhere = principal.can("metrics:read") and group is None
    subscription = monitor.bus.subscribe(FLEET_TOPIC, maxsize=1024)
    allowed: dict[str, bool] = {}

    def visible(frame: bytes) -> bool:
        if everywhere:
            return True
        agent_id = orjson.loads(frame.split(b"data: ", 1)[1])["agent_id"]
        if agent_id not in allowed:
            member_of = index.of(agent_id)
            allowed[agent_id] = principal.can_on("metrics:read", member_of) and (
                group is None or group in member_of
            )
        return allowed[agent_id]

    first = []
    if monitor.latest is not None:
        first.append(summary_frame(LOCAL_AGENT_ID, monitor.latest))
    for agent_id in list(hub.states):
        latest = hub.latest(agent_id)
        if latest is not None:
            first.append(summary_frame(agent_id, latest))

    async def events() -> AsyncIterator[bytes]:
        try:
            async for frame in _frames(subscription, first, visible):
                yield frame
        finally:
            subscription.close()

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)
