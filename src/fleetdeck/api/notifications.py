"""Notification channels (Pulse `/api/notifications/*`, here `/api/v1/notifications/*`): signed
webhooks, a test through every channel, and the delivery queue with its dead letters."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx2
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, EmailStr, Field

from fleetdeck.api.deps import (
    AuthConfigDep,
    DatabaseDep,
    SettingsDep,
    audit_call,
    require,
)
from fleetdeck.api.pagination import PageDep, add_page_headers
from fleetdeck.auth.service import Principal
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.errors import Invalid, NotFound
from fleetdeck.notify import apprise_channel, policy, templates, webhook
from fleetdeck.notify.delivery import Deliverer, DeliveryFailed, DeliveryPolicy, send
from fleetdeck.store import notifications, settings_kv
from fleetdeck.store.notifications import ChannelRow

router = APIRouter(prefix="/notifications", tags=["notifications"])

CanRead = Annotated[Principal, Depends(require("notifications:read"))]
CanWrite = Annotated[Principal, Depends(require("notifications:write"))]
ChannelId = Annotated[str, Path(max_length=64)]
Level = Literal["warning", "critical"]
Template = Literal["generic", "slack", "discord", "teams", "ntfy"]


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
    template: Template = Field("generic", description="See GET /notifications/webhook-templates.")


class WebhookOut(BaseModel):
    id: str
    name: str
    url: str
    has_secret: bool
    min_level: str
    enabled: bool
    template: str


class TemplateInfo(BaseModel):
    id: str
    description: str
    example: dict[str, Any]


class TemplateList(BaseModel):
    templates: list[TemplateInfo]


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
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        None, max_length=1000, description="Omit for all of them."
    )


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
        template=str(channel.config.get("template") or "generic"),
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
    config = {"url": body.url, "secret": secret, "template": body.template}
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
        await audit_call(
            conn,
            request,
            principal,
            "notifications.webhook_update" if existing else "notifications.webhook_create",
            resource=f"channel:{channel_id}",
            details={"name": body.name, "url": body.url},
        )
        saved = await notifications.get_channel(conn, channel_id)
    assert saved is not None
    return webhook_out(saved)


_EXAMPLE = {
    "event": "alert.firing",
    "text": "[CRITICAL] Disk usage on web1: disk[/] is 93.5 (threshold 90)",
    "alert": {"id": "…", "rule_id": "disk", "rule": "Disk usage", "agent_id": "web1",
              "series": "disk[/]", "level": "critical", "state": "firing", "value": 93.5,
              "threshold": 90.0, "started_at": "2026-11-24T10:00:00Z",
              "fired_at": "2026-11-24T10:01:00Z", "resolved_at": None},
}  # fmt: skip


@router.get("/webhook-templates", response_model=TemplateList)
async def webhook_templates(_: CanRead) -> TemplateList:
    """The body shapes a webhook can send, each with the body of an example alert."""
    return TemplateList(
        templates=[
            TemplateInfo(id=name, description=description, example=render(_EXAMPLE))
            for name, (description, render) in templates.TEMPLATES.items()
        ]
    )


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
        await audit_call(
            conn,
            request,
            principal,
            "notifications.webhook_delete",
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
        await audit_call(conn, request, principal, "notifications.test", details={"queued": queued})
    deliverer.wake()
    return Queued(queued=queued)


class EmailSettings(BaseModel):
    enabled: bool = True
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="`none` only for a relay on the same host or network."
    )
    username: str | None = Field(None, max_length=255)
    from_address: EmailStr
    to: list[EmailStr] = Field(min_length=1, max_length=50)
    min_level: Level = "warning"


class EmailIn(EmailSettings):
    password: str | None = Field(None, max_length=1000, description="Write-only; omit to keep.")


class EmailOut(EmailSettings):
    id: str
    has_password: bool


class AppriseIn(BaseModel):
    enabled: bool = True
    urls: list[Annotated[str, Field(min_length=4, max_length=2000)]] | None = Field(
        None,
        max_length=50,
        description="Apprise URLs (ntfys://…, tgram://…, slack://…). Write-only; omit to keep.",
    )
    min_level: Level = "warning"


class AppriseOut(BaseModel):
    id: str
    enabled: bool
    min_level: str
    services: list[str] = Field(description="The scheme of each URL; the URLs hold secrets.")


async def _single(db: DatabaseDep, kind: str) -> ChannelRow | None:
    async with db.read() as conn:
        found = await notifications.list_channels(conn, kind)
    return found[0] if found else None


async def _put_single(
    request: Request, db: DatabaseDep, principal: Principal, kind: str, existing: ChannelRow | None,
    config: dict[str, Any], enabled: bool, min_level: str,
) -> ChannelRow:  # fmt: skip
    async with db.write() as conn:
        channel_id = await notifications.put_channel(
            conn, channel_id=existing.id if existing else None, kind=kind, name=kind,
            config=config, enabled=enabled, min_level=min_level,
        )  # fmt: skip
        await audit_call(
            conn,
            request,
            principal,
            f"notifications.{kind}_update",
            resource=f"channel:{channel_id}",
        )
        saved = await notifications.get_channel(conn, channel_id)
    assert saved is not None
    return saved


def _email_out(channel: ChannelRow) -> EmailOut:
    cfg = channel.config
    return EmailOut(
        id=channel.id, enabled=channel.enabled, host=cfg["host"], port=cfg["port"],
        security=cfg["security"], username=cfg.get("username"), from_address=cfg["from_address"],
        to=cfg["to"], min_level=channel.min_level,  # type: ignore[arg-type]
        has_password=bool(cfg.get("password")),
    )  # fmt: skip


@router.get("/email", response_model=EmailOut)
async def get_email(db: DatabaseDep, _: CanRead) -> EmailOut:
    channel = await _single(db, "email")
    if channel is None:
        raise NotFound("email notifications are not configured", code="CHANNEL_NOT_FOUND")
    return _email_out(channel)


@router.put("/email", response_model=EmailOut)
async def put_email(
    body: EmailIn, request: Request, db: DatabaseDep, auth: AuthConfigDep, principal: CanWrite
) -> EmailOut:
    """The SMTP server and recipients for alert email; the password is stored encrypted."""
    await webhook.check_host(body.host)
    existing = await _single(db, "email")
    password = auth.box.seal(body.password) if body.password else None
    if password is None and existing is not None:
        password = existing.config.get("password")
    config = body.model_dump(exclude={"password", "enabled", "min_level"}) | {"password": password}
    channel = await _put_single(
        request, db, principal, "email", existing, config, body.enabled, body.min_level
    )
    return _email_out(channel)


def _apprise_out(channel: ChannelRow, box: Any) -> AppriseOut:
    schemes = [box.open(u).split("://", 1)[0] for u in channel.config.get("urls", [])]
    return AppriseOut(
        id=channel.id, enabled=channel.enabled, min_level=channel.min_level, services=schemes
    )


@router.get("/apprise", response_model=AppriseOut)
async def get_apprise(db: DatabaseDep, auth: AuthConfigDep, _: CanRead) -> AppriseOut:
    channel = await _single(db, "apprise")
    if channel is None:
        raise NotFound("Apprise notifications are not configured", code="CHANNEL_NOT_FOUND")
    return _apprise_out(channel, auth.box)


@router.put("/apprise", response_model=AppriseOut)
async def put_apprise(
    body: AppriseIn, request: Request, db: DatabaseDep, auth: AuthConfigDep, principal: CanWrite
) -> AppriseOut:
    """Apprise service URLs, stored encrypted (they carry tokens) and never returned."""
    existing = await _single(db, "apprise")
    if body.urls is None:
        if existing is None:
            raise Invalid("give at least one Apprise URL", code="INVALID_URL")
        urls = list(existing.config.get("urls", []))
    else:
        bad = [u.split("://", 1)[0] for u in body.urls if not apprise_channel.valid(u)]
        if bad or not body.urls:
            raise Invalid(
                f"Apprise does not understand: {', '.join(bad) or 'an empty list'}",
                code="INVALID_URL",
                details={"schemes": bad},
            )
        urls = [auth.box.seal(u) for u in body.urls]
    channel = await _put_single(
        request, db, principal, "apprise", existing, {"urls": urls}, body.enabled, body.min_level
    )
    return _apprise_out(channel, auth.box)


class PolicyModel(BaseModel):
    send_resolved: bool = Field(True, description="Also announce when an alert resolves.")
    renotify_minutes: int = Field(
        0, ge=0, le=10080, description="Remind every N minutes while firing and unacknowledged."
    )
    group_seconds: int = Field(
        0, ge=0, le=3600, description="Hold messages this long and send those due together as one."
    )
    quiet_enabled: bool = False
    quiet_start: str = Field("22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str = Field("07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_timezone: str = Field("UTC", max_length=64, description="IANA name, e.g. Europe/Berlin.")
    quiet_allow_critical: bool = Field(True, description="Critical alerts go out even when quiet.")


@router.get("/policy", response_model=PolicyModel)
async def get_policy(db: DatabaseDep, _: CanRead) -> PolicyModel:
    async with db.read() as conn:
        current = await policy.load(conn)
    return PolicyModel(**current.stored())


@router.put("/policy", response_model=PolicyModel)
async def put_policy(
    body: PolicyModel, request: Request, db: DatabaseDep, principal: CanWrite
) -> PolicyModel:
    """Resolved messages, reminders, grouping and quiet hours, for every channel."""
    try:
        ZoneInfo(body.quiet_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(
            f"unknown time zone {body.quiet_timezone!r}", code="INVALID_TIMEZONE"
        ) from exc
    async with db.write() as conn:
        await settings_kv.put(conn, policy.SETTINGS_KEY, body.model_dump())
        await audit_call(
            conn,
            request,
            principal,
            "notifications.policy",
            resource="settings:notifications.policy",
            details=body.model_dump(),
        )
    return body


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
        await audit_call(
            conn, request, principal, "notifications.dlq_retry", details={"count": count}
        )
    deliverer.wake()
    return Count(count=count)


@router.post("/dlq/delete", response_model=Count)
async def delete_dead(
    body: DeadLetterAction, request: Request, db: DatabaseDep, principal: CanWrite
) -> Count:
    async with db.write() as conn:
        count = await notifications.delete_dead(conn, body.ids)
        await audit_call(
            conn, request, principal, "notifications.dlq_delete", details={"count": count}
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
