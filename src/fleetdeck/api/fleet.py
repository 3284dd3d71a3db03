"""`GET /api/v1/fleet/stats`: the agent connections at a glance, with ingest lag."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from fleetdeck.api.deps import HubDep, require
from fleetdeck.auth.service import Principal
from fleetdeck.fleet import hub as hub_module

router = APIRouter(prefix="/fleet", tags=["agents"])


@router.get("/stats")
async def fleet_stats(
    hub: HubDep, _: Annotated[Principal, Depends(require("agents:read"))]
) -> dict[str, Any]:
    """Agents known, connected and online; reports stored and resends ignored; lag from a
    report's timestamp to being stored (queryable), p50/p99/max over the latest 10,000
    reports, with each agent's first report since the server started counted apart."""
    return hub_module.stats(hub)
