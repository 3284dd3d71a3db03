"""Encrypted configuration export and import (Pulse `/api/config/*`, here `/api/v1/config/*`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from fleetdeck import configbundle
from fleetdeck.api.deps import AuthConfigDep, DatabaseDep, MonitorDep, client_ip, require
from fleetdeck.auth.service import Principal

router = APIRouter(prefix="/config", tags=["config"])

Passphrase = Annotated[
    str,
    Field(
        min_length=configbundle.MIN_PASSPHRASE,
        max_length=1024,
        description=f"At least {configbundle.MIN_PASSPHRASE} characters.",
    ),
]


class ExportRequest(BaseModel):
    passphrase: Passphrase


class ExportReply(BaseModel):
    data: str = Field(description="The encrypted bundle (base64).")
    roles: int
    settings: int


class ImportRequest(BaseModel):
    data: str = Field(min_length=1, max_length=1_000_000)
    passphrase: Passphrase


class ImportReply(BaseModel):
    roles: int
    settings: int
    oidc: int


@router.post("/export", response_model=ExportReply)
async def export_config(
    body: ExportRequest,
    request: Request,
    db: DatabaseDep,
    config: AuthConfigDep,
    principal: Annotated[Principal, Depends(require("config:export"))],
) -> ExportReply:
    """Custom roles, runtime settings and OIDC setup, AES-GCM encrypted with the passphrase."""
    document = await configbundle.export(
        db, config.box, actor=principal.actor, ip=client_ip(request)
    )
    return ExportReply(
        data=configbundle.seal(document, body.passphrase),
        roles=len(document["roles"]),
        settings=len(document["settings"]),
    )


@router.post("/import", response_model=ImportReply)
async def import_config(
    body: ImportRequest,
    request: Request,
    db: DatabaseDep,
    config: AuthConfigDep,
    monitor: MonitorDep,
    principal: Annotated[Principal, Depends(require("config:import"))],
) -> ImportReply:
    """Restore a bundle in one transaction; a wrong passphrase or an altered bundle changes
    nothing (400 `BUNDLE_REJECTED`)."""
    document = configbundle.unseal(body.data, body.passphrase)
    counts = await configbundle.restore(
        db, config.box, document, actor=principal.actor, ip=client_ip(request)
    )
    interval = document.get("settings", {}).get("refresh_interval")
    if interval is not None:
        monitor.set_interval(float(interval))
    return ImportReply(**counts)
