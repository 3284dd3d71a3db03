"""Notification channels (Pulse `/api/notifications/*`, here `/api/v1/notifications/*`): signed
webhooks, a test through every channel, and the delivery queue with its dead letters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx2
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from fleetdeck.api.deps import AuthConfigDep, DatabaseDep, SettingsDep, client_ip, require
from fleetdeck.api.pagination import PageDep, add_page_headers
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.errors import NotFound
from fleetdeck.notify import webhook
from fleetdeck.notify.delivery import Deliverer, DeliveryFailed, DeliveryPolicy, send
from fleetdeck.store import audit, notifications
from fleetdeck.store.notifications import ChannelRow

router = APIRouter(prefix="/notifications", tags=["notifications"])

CanRead = Annotated[Principal, Depends(require("notifications:read"))]
CanWrite = Annotated[Principal, Depends(require("notifications:write"))]
ChannelId = Annotated[str, Path(max_length=64)]
Level = Literal["warning", "critical"]


def get_deliverer(request: Request) -> Deliverer:
    deliverer: Deliverer = request.app.state.deliverer
    return deliverer


DelivererDep = Annotated[Deliverer, Depends(get_deliverer)]


class WebhookIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    url: str = Field(min_length=8, max_length=2000)
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="Signs each request (X-Fleetdeck-Signature). Write-only; omit to keep.",
    )
    min_level: Level = "warning"
    enabled: bool = True


class WebhookOut(BaseModel):
    id: str
    name: str
    url: str
    has_secret: bool
    min_level: str
    enabled: bool


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class WebhookTest(BaseModel):
    id: str = Field(max_length=64)


class TestResult(BaseModel):
    delivered: bool
    status: int | None
    error: str | None


class Queued(BaseModel):
    queued: int


class QueueStats(BaseModel):
    pending: int
    sent: int
    dead: int


class OutboxEntry(BaseModel):
    id: int
    channel_id: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    last_status: int | None
    created_at: str
    sent_at: str | None
    event: str | None
    text: str | None


class OutboxList(BaseModel):
    messages: list[OutboxEntry]
    total: int


class DeadLetterAction(BaseModel):
    ids: list[int] | None = Field(None, max_length=1000, description="Omit for all of them.")


class Count(BaseModel):
    count: int


class Health(BaseModel):
    healthy: bool
    channels: int
    pending: int
    dead: int
    oldest_pending: str | None
    last_run_at: str | None


def webhook_out(channel: ChannelRow) -> WebhookOut:
    return WebhookOut(
        id=channel.id,
        name=channel.name,
        url=str(channel.config["url"]),
        has_secret=bool(channel.config.get("secret")),
        min_level=channel.min_level,
        enabled=channel.enabled,
    )


async def _webhook(db: DatabaseDep, channel_id: str) -> ChannelRow:
    async with db.read() as conn:
        channel = await notifications.get_channel(conn, channel_id)
    if channel is None or channel.kind != "webhook":
        raise NotFound(f"no webhook {channel_id}", code="CHANNEL_NOT_FOUND")
    return channel


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(db: DatabaseDep, _: CanRead) -> WebhookList:
    async with db.read() as conn:
        channels = await notifications.list_channels(conn, "webhook")
    return WebhookList(webhooks=[webhook_out(c) for c in channels])


async def _save(
    request: Request, db: DatabaseDep, auth: AuthConfigDep, settings: SettingsDep,
    principal: Principal, body: WebhookIn, existing: ChannelRow | None,
) -> WebhookOut:  # fmt: skip
    await webhook.check_target(body.url, allow_private=settings.notify_allow_private)
    secret = auth.box.seal(body.secret) if body.secret else None
    if secret is None and existing is not None:
        secret = existing.config.get("secret")
    config = {"url": body.url, "secret": secret}
    async with db.write() as conn:
        channel_id = await notifications.put_channel(
            conn,
            channel_id=existing.id if existing else None,
            kind="webhook",
            name=body.name,
            config=config,
            enabled=body.enabled,
            min_level=body.min_level,
        )
        await audit.record(
            conn,
            action="notifications.webhook_update" if existing else "notifications.webhook_create",
            success=True,
            actor=principal.actor,
            ip=client_ip(request),
            resource=f"channel:{channel_id}",
            details={"name": body.name, "url": body.url},
        )
        saved = await notifications.get_channel(conn, channel_id)
    assert saved is not None
    return webhook_out(saved)


@router.post("/webhooks", response_model=WebhookOut, status_code=201)
async def create_webhook(
    body: WebhookIn,
    request: Request,
    db: DatabaseDep,
    auth: AuthConfigDep,
    settings: SettingsDep,
    principal: CanWrite,
) -> WebhookOut:
    """A webhook receiving alert notifications as signed JSON."""
    return await _save(request, db, auth, settings, principal, body, None)


@router.put("/webhooks/{channel_id}", response_model=WebhookOut)
async def update_webhook(
    channel_id: ChannelId,
    body: WebhookIn,
    request: Request,
    db: DatabaseDep,
    auth: AuthConfigDep,
    settings: SettingsDep,
    principal: CanWrite,
) -> WebhookOut:
    existing = await _webhook(db, channel_id)
    return await _save(request, db, auth, settings, principal, body, existing)


@router.delete("/webhooks/{channel_id}", status_code=204)
async def delete_webhook(
    channel_id: ChannelId, request: Request, db: DatabaseDep, principal: CanWrite
) -> Response:
    await _webhook(db, channel_id)
    async with db.write() as conn:
        await notifications.delete_channel(conn, channel_id)
        await audit.record(
            conn,
            action="notifications.webhook_delete",
            success=True,
            actor=principal.actor,
            ip=client_ip(request),
            resource=f"channel:{channel_id}",
        )
    return Response(status_code=204)


def _test_payload(principal: Principal) -> dict[str, Any]:
    return {
        "event": "test",
        "text": f"fleetdeck test notification, sent by {principal.actor}",
        "sent_at": rfc3339(utcnow()),
    }


@router.post("/webhooks/test", response_model=TestResult)
async def test_webhook(
    body: WebhookTest,
    db: DatabaseDep,
    auth: AuthConfigDep,
    settings: SettingsDep,
    principal: CanWrite,
) -> TestResult:
    """Send a test message to one webhook now and report what its receiver answered."""
    channel = await _webhook(db, body.id)
    policy = DeliveryPolicy(allow_private=settings.notify_allow_private)
    async with httpx2.AsyncClient(follow_redirects=False) as client:
        try:
            status = await send(client, channel, _test_payload(principal), auth.box, policy)
        except DeliveryFailed as exc:
            return TestResult(delivered=False, status=exc.status, error=str(exc))
    return TestResult(delivered=True, status=status, error=None)


@router.post("/test", response_model=Queued)
async def test_all(
    request: Request, db: DatabaseDep, deliverer: DelivererDep, principal: CanWrite
) -> Queued:
    """Queue a test message for every enabled channel (delivered like any notification)."""
    payload = _test_payload(principal)
    queued = 0
    async with db.write() as conn:
        for channel in await notifications.list_channels(conn):
            if channel.enabled:
                key = f"test:{utcnow().isoformat()}:{principal.actor}"
                queued += await notifications.enqueue(conn, channel.id, key, payload)
        await audit.record(
            conn,
            action="notifications.test",
            success=True,
            actor=principal.actor,
            ip=client_ip(request),
            details={"queued": queued},
        )
    deliverer.wake()
    return Queued(queued=queued)


@router.get("/queue/stats", response_model=QueueStats)
async def queue_stats(db: DatabaseDep, _: CanRead) -> QueueStats:
    async with db.read() as conn:
        return QueueStats(**await notifications.stats(conn))


def _entry(row: dict[str, Any]) -> OutboxEntry:
    payload = row["payload"] or {}
    return OutboxEntry(
        id=row["id"],
        channel_id=row["channel_id"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=rfc3339(row["next_attempt_at"]) if row["status"] == "pending" else None,
        last_error=row["last_error"],
        last_status=row["last_status"],
        created_at=rfc3339(row["created_at"]) or "",
        sent_at=rfc3339(row["sent_at"]),
        event=payload.get("event"),
        text=payload.get("text"),
    )


async def _listing(
    request: Request, response: Response, db: DatabaseDep, page: PageDep, status: str | None,
    channel_id: str | None,
) -> OutboxList:  # fmt: skip
    async with db.read() as conn:
        rows, total = await notifications.listing(
            conn, status=status, channel_id=channel_id, limit=page.limit, offset=page.offset
        )
    add_page_headers(request, response, page, total)
    return OutboxList(messages=[_entry(r) for r in rows], total=total)


@router.get("/dlq", response_model=OutboxList)
async def dead_letters(
    request: Request, response: Response, db: DatabaseDep, page: PageDep, _: CanRead
) -> OutboxList:
    """Messages that failed every attempt."""
    return await _listing(request, response, db, page, "dead", None)


@router.get("/webhook-history", response_model=OutboxList)
async def webhook_history(
    request: Request,
    response: Response,
    db: DatabaseDep,
    page: PageDep,
    _: CanRead,
    channel_id: Annotated[str | None, Query(max_length=64)] = None,
) -> OutboxList:
    """Every message, newest first, with its attempts and the receiver's last answer."""
    return await _listing(request, response, db, page, None, channel_id)


@router.post("/dlq/retry", response_model=Count)
async def retry_dead(
    body: DeadLetterAction,
    request: Request,
    db: DatabaseDep,
    deliverer: DelivererDep,
    principal: CanWrite,
) -> Count:
    async with db.write() as conn:
        count = await notifications.requeue_dead(conn, body.ids)
        await audit.record(
            conn,
            action="notifications.dlq_retry",
            success=True,
            actor=principal.actor,
            ip=client_ip(request),
            details={"count": count},
        )
    deliverer.wake()
    return Count(count=count)


@router.post("/dlq/delete", response_model=Count)
async def delete_dead(
    body: DeadLetterAction, request: Request, db: DatabaseDep, principal: CanWrite
) -> Count:
    async with db.write() as conn:
        count = await notifications.delete_dead(conn, body.ids)
        await audit.record(
            conn,
            action="notifications.dlq_delete",
            success=True,
            actor=principal.actor,
            ip=client_ip(request),
            details={"count": count},
        )
    return Count(count=count)


@router.get("/health", response_model=Health)
async def health(db: DatabaseDep, deliverer: DelivererDep, _: CanRead) -> Health:
    """Healthy while nothing is dead and nothing pending waited more than ten minutes."""
    async with db.read() as conn:
        counts = await notifications.stats(conn)
        channels = await notifications.list_channels(conn)
        oldest = await notifications.oldest_pending(conn)
    stale = oldest is not None and (utcnow() - oldest).total_seconds() > 600
    return Health(
        healthy=counts["dead"] == 0 and not stale,
        channels=len(channels),
        pending=counts["pending"],
        dead=counts["dead"],
        oldest_pending=rfc3339(oldest),
        last_run_at=deliverer.last_run_at,
    )
