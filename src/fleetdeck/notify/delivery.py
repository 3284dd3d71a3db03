"""The delivery worker: takes due messages from the outbox, sends them through their channel,
marks them sent, or schedules a retry with exponential backoff and jitter, or, after the last
attempt, moves them to the dead letters. A message is marked sent only after the receiver
accepted it, in its own transaction, so a restart resends at most what was in flight."""

from __future__ import annotations

import asyncio
import logging
import random
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2

from fleetdeck.auth.keys import SecretBox
from fleetdeck.clock import utcnow
from fleetdeck.errors import Invalid
from fleetdeck.notify import apprise_channel, email, policy, templates, webhook
from fleetdeck.store import notifications
from fleetdeck.store.engine import Database
from fleetdeck.store.notifications import ChannelRow, Message

log = logging.getLogger(__name__)

BATCH = 50
MAX_DELAY = 3600.0
# A claimed message is someone's for this long; a worker that dies mid-send releases it so.
LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 8
    base_delay: float = 2.0
    allow_private: bool = False

    def delay(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1`: doubling, capped, with +-50 % jitter."""
        backoff: float = min(self.base_delay * 2.0 ** (attempts - 1), MAX_DELAY)
        return backoff * random.uniform(0.5, 1.5)


class DeliveryFailed(Exception):
    """A send that did not go through. `permanent`: retrying cannot help (the receiver refused
    the request itself, the target is forbidden), so the message goes to the dead letters."""

    def __init__(self, message: str, status: int | None = None, *, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.permanent = permanent


Sender = Callable[
    [httpx2.AsyncClient, ChannelRow, dict[str, Any], SecretBox, DeliveryPolicy],
    Awaitable[int | None],
]


async def _webhook(
    client: httpx2.AsyncClient,
    channel: ChannelRow,
    payload: dict[str, Any],
    box: SecretBox,
    policy: DeliveryPolicy,
) -> int | None:
    url, body = templates.render(
        str(channel.config.get("template") or "generic"), str(channel.config["url"]), payload
    )
    sealed = channel.config.get("secret")
    try:
        await webhook.check_target(url, allow_private=policy.allow_private)
    except Invalid as exc:
        raise DeliveryFailed(exc.message, permanent=True) from exc
    try:
        reply = await webhook.post(client, url, body, secret=box.open(sealed) if sealed else None)
    except httpx2.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    status = reply.status_code
    if not 200 <= status < 300:
        # 4xx means this request will never be accepted, except a timeout or a rate limit.
        permanent = 400 <= status < 500 and status not in (408, 425, 429)
        raise DeliveryFailed(f"HTTP {status}", status, permanent=permanent)
    return status


async def _email(
    client: httpx2.AsyncClient,
    channel: ChannelRow,
    payload: dict[str, Any],
    box: SecretBox,
    policy: DeliveryPolicy,
) -> int | None:
    sealed = channel.config.get("password")
    try:
        await email.send(channel.config, box.open(sealed) if sealed else None, payload)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise DeliveryFailed(f"SMTP: {type(exc).__name__}: {exc}", permanent=True) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP: {type(exc).__name__}: {exc}") from exc
    return None


async def _apprise(
    client: httpx2.AsyncClient,
    channel: ChannelRow,
    payload: dict[str, Any],
    box: SecretBox,
    policy: DeliveryPolicy,
) -> int | None:
    urls = [box.open(u) for u in channel.config.get("urls", [])]
    try:
        ok = await apprise_channel.send(urls, payload)
    except Exception as exc:
        raise DeliveryFailed(f"apprise: {exc}") from exc
    if not ok:
        raise DeliveryFailed("apprise: at least one service refused the message")
    return None


# Every channel kind, built-ins and future ones alike: one sender each.
SENDERS: dict[str, Sender] = {"webhook": _webhook, "email": _email, "apprise": _apprise}


async def send(
    client: httpx2.AsyncClient,
    channel: ChannelRow,
    payload: dict[str, Any],
    box: SecretBox,
    policy: DeliveryPolicy,
) -> int | None:
    """Send one message through one channel; raises DeliveryFailed."""
    sender = SENDERS.get(channel.kind)
    if sender is None:
        raise DeliveryFailed(f"no sender for channel kind {channel.kind}", permanent=True)
    return await sender(client, channel, payload, box, policy)


class Deliverer:
    def __init__(self, db: Database, box: SecretBox, policy: DeliveryPolicy) -> None:
        self.db = db
        self.box = box
        self.policy = policy
        self._wake = asyncio.Event()
        self.last_run_at: str | None = None

    def wake(self) -> None:
        """New messages are queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        async with httpx2.AsyncClient(follow_redirects=False) as client:
            while True:
                try:
                    await self.deliver_due(client)
                except Exception:
                    log.exception("notification delivery failed; retrying shortly")
                idle = await self._idle_for()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def _idle_for(self) -> float:
        async with self.db.read() as conn:
            soonest = await notifications.next_due(conn)
        if soonest is None:
            return 5.0
        return max(0.05, min(5.0, (soonest - utcnow()).total_seconds()))

    async def deliver_due(self, client: httpx2.AsyncClient) -> int:
        async with self.db.read() as conn:
            messages = await notifications.due(conn, utcnow(), BATCH)
            channels = {c.id: c for c in await notifications.list_channels(conn)}
            group = (await policy.load(conn)).group_seconds > 0
        batches: list[list[Message]] = []
        if group:  # what is due together for one channel leaves as one message
            by_channel: dict[str, list[Message]] = {}
            for message in messages:
                by_channel.setdefault(message.channel_id, []).append(message)
            batches = list(by_channel.values())
        else:
            batches = [[m] for m in messages]
        if batches:
            await asyncio.gather(
                *(self._batch(client, b, channels.get(b[0].channel_id)) for b in batches)
            )
        self.last_run_at = utcnow().isoformat()
        return len(messages)

    async def _batch(
        self, client: httpx2.AsyncClient, batch: list[Message], channel: ChannelRow | None
    ) -> None:
        async with self.db.write() as conn:  # claim: another worker or replica may race us
            batch = [m for m in batch if await notifications.claim(conn, m.id, LEASE)]
        if not batch:
            return
        try:
            await self._send(client, batch, channel)
        except asyncio.CancelledError:
            # The server is stopping mid-send. Without this the messages would wait out their
            # lease after the next start; the receiver may have them already, as after a crash
            # (delivery is at least once).
            async with self.db.write() as conn:
                await notifications.release(conn, [m.id for m in batch])
            raise

    async def _send(
        self, client: httpx2.AsyncClient, batch: list[Message], channel: ChannelRow | None
    ) -> None:
        payload = batch[0].payload if len(batch) == 1 else grouped([m.payload for m in batch])
        try:
            if channel is None:
                raise DeliveryFailed("the channel was deleted", permanent=True)
            status = await send(client, channel, payload, self.box, self.policy)
        except DeliveryFailed as exc:
            async with self.db.write() as conn:
                for message in batch:
                    attempts = message.attempts + 1
                    retry_at = None
                    retry = attempts < self.policy.max_attempts and not exc.permanent
                    if retry and channel is not None:
                        retry_at = utcnow() + timedelta(seconds=self.policy.delay(attempts))
                    await notifications.mark_failed(
                        conn, message.id, error=str(exc), status=exc.status, retry_at=retry_at
                    )
            log.info("notification %s failed: %s", [m.id for m in batch], exc)
            return
        async with self.db.write() as conn:
            for message in batch:
                await notifications.mark_sent(conn, message.id, status)


def grouped(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """One message for several: every text, one per line, and the alerts in a list."""
    texts = [str(p.get("text", "")) for p in payloads]
    return {
        "event": "alert.group",
        "text": f"{len(payloads)} notifications:\n" + "\n".join(texts),
        "alerts": [p["alert"] for p in payloads if p.get("alert")],
        "messages": payloads,
    }
