"""`fleetdeck agent run`: collect at the interval the server asks for and keep one WebSocket open.

Reports wait in a bounded buffer until the server acknowledges them, so a server restart or a
network cut loses nothing up to the buffer's size (the oldest go first when it is full). The
connection comes back with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import time
from collections import deque
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from fleetdeck.agent import commands, identity, protocol
from fleetdeck.agent.enroll import facts
from fleetdeck.agent.enroll import ssl_context as pinned_context
from fleetdeck.collect.host import HostCollector, default_collectors

log = logging.getLogger("fleetdeck.agent")

BUFFER_REPORTS = 2000  # about 2.8 h at the default 5 s interval
MAX_BACKOFF = 60.0
EXIT_REFUSED = 3  # the systemd unit does not restart on this code


class Refused(Exception):
    """The server will not take this identity (revoked, rejected, unknown): stop."""


class NotEnrolled(Exception):
    pass


async def handshake(
    ws: ClientConnection, me: identity.Identity, agent_id: str, host_facts: dict[str, Any]
) -> dict[str, Any]:
    """Answer the server's challenge; returns the remote config from its welcome."""
    challenge = protocol.decode(await ws.recv())
    if challenge["type"] != "challenge":
        raise protocol.BadMessage(f"expected a challenge, got {challenge['type']}")
    nonce = base64.b64decode(challenge["nonce"])
    signature = me.sign(protocol.hello_payload(nonce, agent_id))
    await ws.send(
        protocol.encode("hello", agent_id=agent_id, signature=signature, facts=host_facts)
    )
    while True:
        message = protocol.decode(await ws.recv())
        if message["type"] == "pending":
            log.warning("waiting for an administrator to approve %s", agent_id)
        elif message["type"] == "welcome":
            config: dict[str, Any] = message.get("config") or {}
            return config
        else:
            raise protocol.BadMessage(f"unexpected {message['type']} before welcome")


def websocket_url(server: str) -> str:
    scheme, _, rest = server.partition("://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + protocol.PATH


class Runner:
    def __init__(
        self,
        state_dir: Path,
        *,
        allow_commands: bool = False,
        buffer_reports: int = BUFFER_REPORTS,
        collector: HostCollector | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        state = identity.load_state(state_dir)
        if state is None:
            raise NotEnrolled(f"no enrolment in {state_dir}: run `fleetdeck agent enroll` first")
        self.state_dir = state_dir
        self.server: str = state["server"]
        self.agent_id: str = state["agent_id"]
        self.identity = identity.load_or_create(state_dir)
        self.allow_commands = allow_commands
        self.collector = collector or HostCollector(default_collectors())
        self.ssl_context = ssl_context or pinned_context(state_dir)
        self.config: dict[str, Any] = dict(protocol.DEFAULT_CONFIG)
        self.buffer: deque[tuple[int, bytes]] = deque(maxlen=buffer_reports)
        self.dropped = 0
        self.seq = 0
        self.live_interval: float | None = None  # set while someone watches this host live
        self._fresh = asyncio.Event()
        self._interval_changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = False

    # -- collecting ----------------------------------------------------------------------

    def _collectors_for(self, names: list[str]) -> None:
        chosen = set(names) | {"system"} if names else None
        self.collector.collectors = [
            c for c in default_collectors() if chosen is None or c.key in chosen
        ]

    def apply(self, config: dict[str, Any]) -> None:
        previous = self.config
        self.config = {**protocol.DEFAULT_CONFIG, **config}
        if self.config["collectors"] != previous["collectors"]:
            self._collectors_for(list(self.config["collectors"]))
        if self.config["interval"] != previous["interval"]:
            self._interval_changed.set()
        log.info("config: every %ss", self.config["interval"])

    @property
    def interval(self) -> float:
        configured = float(self.config["interval"])
        return min(configured, self.live_interval) if self.live_interval else configured

    def go_live(self, interval: float | None) -> None:
        self.live_interval = interval
        self._interval_changed.set()
        log.info("live: %s", f"every {interval}s" if interval else "off")

    def add_report(self, ts: int, snapshot: dict[str, Any]) -> None:
        self.seq += 1
        if len(self.buffer) == self.buffer.maxlen:
            self.dropped += 1
        message = protocol.encode("report", seq=self.seq, ts=ts, snapshot=snapshot)
        self.buffer.append((self.seq, message))
        self._fresh.set()

    async def collect_forever(self) -> None:
        next_at = time.monotonic()
        while True:
            ts = int(time.time() * 1000)
            try:
                watched = self.live_interval is not None
                snap = await asyncio.to_thread(self.collector.snapshot, watched=watched)
                self.add_report(ts, snap)
            except Exception:
                log.exception("collection failed")
            interval = self.interval
            next_at += interval
            now = time.monotonic()
            if next_at < now:
                next_at = now + interval
            self._interval_changed.clear()
            try:
                await asyncio.wait_for(self._interval_changed.wait(), next_at - now)
                next_at = time.monotonic()
            except TimeoutError:
                pass

    # -- the connection ------------------------------------------------------------------

    def _acknowledged(self, seq: int) -> None:
        while self.buffer and self.buffer[0][0] <= seq:
            self.buffer.popleft()

    async def _send_reports(self, ws: ClientConnection) -> None:
        """Send buffered reports in order, each once per connection."""
        sent = 0
        while True:
            self._fresh.clear()
            for seq, data in list(self.buffer):
                if seq > sent:
                    await ws.send(data)
                    sent = seq
            if not (self.buffer and self.buffer[-1][0] > sent):
                await self._fresh.wait()

    async def _on_message(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "ack" and isinstance(message.get("seq"), int):
            self._acknowledged(message["seq"])
        elif kind == "config" and isinstance(message.get("config"), dict):
            self.apply(message["config"])
        elif kind == "live":
            live = message.get("interval")
            self.go_live(float(live) if isinstance(live, int | float) and live > 0 else None)
        elif kind == "ping":
            await ws.send(protocol.encode("pong", id=message.get("id"), version=facts()["version"]))
        elif kind == "rotate":
            fresh = identity.prepare_next(self.state_dir)
            signature = self.identity.sign(protocol.rotate_payload(fresh.public_key_b64))
            await ws.send(
                protocol.encode(
                    "rotate",
                    id=message.get("id"),
                    public_key=fresh.public_key_b64,
                    signature=signature,
                )  # fmt: skip
            )
        elif kind == "rotated":
            self.identity = identity.promote_next(self.state_dir)
            log.warning("identity rotated: now %s", self.identity.fingerprint)
        elif kind == "process":
            # In a task: a slow /proc read must not hold up acks and config.
            task = asyncio.create_task(self._process_action(ws, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "error":
            log.warning("the server says: %s", message.get("message"))
        else:
            log.warning("ignoring unknown message %r", kind)

    async def _process_action(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        try:
            result = await self.process_action(message)
            reply = protocol.encode("process", id=request_id, result=result)
        except commands.Refusal as refusal:
            log.warning("process %s refused: %s", message.get("action"), refusal.message)
            error = {"code": refusal.code, "message": refusal.message}
            reply = protocol.encode("process", id=request_id, error=error)
        await ws.send(reply)

    async def process_action(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run a `process` request when both this host (`--allow-commands`) and the server's
        config for it (`commandsEnabled`) allow commands; raises commands.Refusal."""
        if not (self.allow_commands and self.config.get("commandsEnabled")):
            where = "" if self.allow_commands else " (the agent runs without --allow-commands)"
            raise commands.Refusal(
                "COMMANDS_DISABLED", f"commands are disabled on this host{where}"
            )
        return await asyncio.to_thread(commands.process_action, message)

    async def session(self) -> None:
        url = websocket_url(self.server)
        secure = self.ssl_context if url.startswith("wss://") else None
        async with connect(
            url, ssl=secure, open_timeout=15, max_size=2**22, ping_interval=20,
        ) as ws:  # fmt: skip
            self.apply(await handshake(ws, self.identity, self.agent_id, facts()))
            self.connected = True
            log.info("connected to %s as %s", self.server, self.agent_id)
            sender = asyncio.create_task(self._send_reports(ws))
            try:
                async for raw in ws:
                    try:
                        message = protocol.decode(raw)
                    except protocol.BadMessage as exc:
                        log.warning("ignoring a malformed message from the server: %s", exc)
                        continue
                    await self._on_message(ws, message)
                if sender.done():
                    sender.result()
            finally:
                self.connected = False
                if self.live_interval is not None:  # nobody can watch while disconnected
                    self.go_live(None)
                sender.cancel()

    async def run(self) -> None:
        collecting = asyncio.create_task(self.collect_forever())
        failures = 0
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.session()
                except websockets.ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else None
                    reason = exc.rcvd.reason if exc.rcvd else ""
                    if code in (protocol.CLOSE_REFUSED, protocol.CLOSE_UNKNOWN):
                        if identity.has_next(self.state_dir) and reason == "bad signature":
                            self.identity = identity.promote_next(self.state_dir)
                            log.warning("retrying with the rotated key")
                            continue
                        raise Refused(f"the server refused this agent: {reason}") from exc
                    log.warning("connection closed (%s %s)", code, reason)
                except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                    log.warning("cannot reach %s: %s", self.server, exc)
                except protocol.BadMessage as exc:
                    log.warning("protocol error: %s", exc)
                if time.monotonic() - started > 60:
                    failures = 0  # it ran for a while: start the backoff again
                failures += 1
                delay = min(MAX_BACKOFF, 2 ** min(failures - 1, 6)) * random.uniform(0.5, 1.0)
                log.info("reconnecting in %.1fs (%d reports buffered)", delay, len(self.buffer))
                await asyncio.sleep(delay)
        finally:
            collecting.cancel()
