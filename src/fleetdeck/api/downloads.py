"""What a new host fetches before it has any credentials: the install script, the agent's wheel
(with `X-Checksum-Sha256`, Pulse) and, under `--tls auto`, the CA certificate to pin."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse

from fleetdeck.api.deps import SettingsDep
from fleetdeck.datadir import TLS_DIR
from fleetdeck.errors import NotFound
from fleetdeck.fleet import distribution

router = APIRouter(tags=["agents"])


def server_url(request: Request, public_url: str | None) -> str:
    return (public_url or str(request.base_url)).rstrip("/")


@router.get("/install.sh", response_class=PlainTextResponse)
async def install_script(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """`curl -fsSL SERVER/install.sh | sh -s -- --token T`: installs the agent into its own
    venv, enrols it and, as root under systemd, starts `fleetdeck-agent.service`."""
    script = distribution.install_script(server_url(request, settings.public_url))
    return PlainTextResponse(script, media_type="text/x-shellscript")


@router.get("/download/fleetdeck-agent", response_class=FileResponse)
async def agent_wheel(settings: SettingsDep) -> FileResponse:
    """The running server's own code as a wheel; `X-Checksum-Sha256` is its SHA-256."""
    wheel = await asyncio.to_thread(distribution.build, settings.data_dir / "downloads")
    return FileResponse(
        wheel.path,
        media_type="application/zip",
        filename=wheel.filename,
        headers={"X-Checksum-Sha256": wheel.sha256},
    )


@router.get("/ca.pem", response_class=Response)
async def ca_certificate(settings: SettingsDep) -> Response:
    """The private CA of `--tls auto`, for agents to pin by fingerprint."""
    ca = settings.data_dir / TLS_DIR / "ca.pem"
    if settings.tls != "auto" or not ca.exists():
        raise NotFound("this server does not run with --tls auto", code="NO_PRIVATE_CA")
    return Response(ca.read_bytes(), media_type="application/x-pem-file")
