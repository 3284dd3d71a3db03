"""The audit log: one row per login, logout and state-changing call, in an HMAC chain.

Each event's `signature` is HMAC-SHA256 (key: `audit.key` in the data dir) over its content and
the previous event's signature, kept in its `prev_signature`. Editing an event breaks its own
signature; deleting one breaks the link of the event after it. Deleting the newest events leaves
a shorter valid chain, so `fleetdeck audit verify` prints the head to record elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import audit_events

# Where `Database.write()` leaves the signing key for this transaction's connection.
KEY_INFO = "fleetdeck.audit_key"
# pg_advisory_xact_lock id that serialises appends to the chain on PostgreSQL.
_PG_CHAIN_LOCK = 0x66D_A0D1
_CONTENT = ("timestamp", "actor", "ip", "action", "resource", "success", "details")


class AuditKeyMissing(RuntimeError):
    """The connection was not opened by a Database that knows the audit key."""


def _key(conn: AsyncConnection) -> bytes:
    key = conn.info.get(KEY_INFO)
    if not isinstance(key, bytes):
        raise AuditKeyMissing("this database has no audit key: Database(url, audit_key=...)")
    return key


def signature(key: bytes, prev: str | None, event: dict[str, Any]) -> str:
    """HMAC over the predecessor's signature and the event's content, canonically encoded."""
    moment: datetime = event["timestamp"]
    content = [
        prev or "",
        moment.replace(tzinfo=None).isoformat(timespec="microseconds"),
        event["actor"],
        event["ip"],
        event["action"],
        event["resource"],
        bool(event["success"]),
        event["details"],
    ]
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


async def _lock_chain(conn: AsyncConnection) -> None:
    # SQLite writers are already serialised (Database.write and the file lock).
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_CHAIN_LOCK})"))


async def _head(conn: AsyncConnection) -> str | None:
    return (
        await conn.execute(
            sa.select(audit_events.c.signature).order_by(audit_events.c.id.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def record(
    conn: AsyncConnection,
    *,
    action: str,
    success: bool,
    actor: str | None = None,
    ip: str | None = None,
    resource: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    key = _key(conn)
    await _lock_chain(conn)
    event = {
        "timestamp": utcnow(),
        "actor": actor,
        "ip": ip,
        "action": action,
        "resource": resource,
        "success": success,
        "details": details or {},
    }
    prev = await _head(conn)
    await conn.execute(
        audit_events.insert().values(
            **event, prev_signature=prev, signature=signature(key, prev, event)
        )
    )


async def sign_unsigned(conn: AsyncConnection) -> int:
    """Sign events written before the chain existed (migration 0004), oldest first."""
    key = _key(conn)
    await _lock_chain(conn)
    rows = (
        (
            await conn.execute(
                sa.select(audit_events)
                .where(audit_events.c.signature.is_(None))
                .order_by(audit_events.c.id)
            )
        )
        .mappings()
        .all()
    )
    for row in rows:
        prev = (
            await conn.execute(
                sa.select(audit_events.c.signature)
                .where(audit_events.c.id < row["id"])
                .order_by(audit_events.c.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        await conn.execute(
            audit_events.update()
            .where(audit_events.c.id == row["id"])
            .values(prev_signature=prev, signature=signature(key, prev, dict(row)))
        )
    return len(rows)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    user: str | None = None
    action: str | None = None
    resource: str | None = None
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(flt: AuditFilter) -> list[sa.ColumnElement[bool]]:
    c = audit_events.c
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.user is not None:
        clauses.append(c.actor == flt.user)
    if flt.action is not None:
        # `auth.` or `auth.*` selects a family of actions.
        family = flt.action.removesuffix("*")
        clauses.append(
            c.action.startswith(family, autoescape=True)
            if family.endswith(".")
            else c.action == flt.action
        )
    if flt.resource is not None:
        clauses.append(c.resource.startswith(flt.resource, autoescape=True))
    if flt.success is not None:
        clauses.append(c.success == flt.success)
    if flt.since is not None:
        clauses.append(c.timestamp >= flt.since)
    if flt.until is not None:
        clauses.append(c.timestamp <= flt.until)
    return clauses


async def search(
    conn: AsyncConnection, flt: AuditFilter, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Newest first; also the number of matching events."""
    where = _where(flt)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(audit_events).where(*where))
    ).scalar_one()
    rows = await conn.execute(
        sa.select(audit_events)
        .where(*where)
        .order_by(audit_events.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [dict(r) for r in rows.mappings()], int(total)


async def recent(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    rows, _ = await search(conn, AuditFilter(), limit=limit, offset=0)
    return rows


@dataclass(frozen=True, slots=True)
class Verdict:
    id: int
    signature_valid: bool
    chain_valid: bool
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.signature_valid and self.chain_valid


def judge(key: bytes, event: dict[str, Any], prev_signature: str | None) -> Verdict:
    """Check one event against its own content and the signature of the event before it."""
    stored = event["signature"]
    if stored is None:
        return Verdict(event["id"], False, False, "the event is not signed")
    expected = signature(key, event["prev_signature"], event)
    signature_ok = hmac.compare_digest(stored, expected)
    chain_ok = event["prev_signature"] == prev_signature
    problem = None
    if not signature_ok:
        problem = "the event's content does not match its signature (edited)"
    elif not chain_ok:
        problem = "the event before it is missing or was replaced (deleted or inserted events)"
    return Verdict(event["id"], signature_ok, chain_ok, problem)


async def verify_one(conn: AsyncConnection, key: bytes, event_id: int) -> Verdict | None:
    row = (
        (await conn.execute(sa.select(audit_events).where(audit_events.c.id == event_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    prev = (
        await conn.execute(
            sa.select(audit_events.c.signature)
            .where(audit_events.c.id < event_id)
            .order_by(audit_events.c.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return judge(key, dict(row), prev)


async def count(conn: AsyncConnection) -> int:
    return int(
        (await conn.execute(sa.select(sa.func.count()).select_from(audit_events))).scalar_one()
    )


async def walk(conn: AsyncConnection, key: bytes, batch: int = 1000) -> AsyncIterator[Verdict]:
    """Every event's verdict, oldest first, reading `batch` events at a time."""
    prev: str | None = None
    after = 0
    while True:
        rows = (
            (
                await conn.execute(
                    sa.select(audit_events)
                    .where(audit_events.c.id > after)
                    .order_by(audit_events.c.id)
                    .limit(batch)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        for row in rows:
            event = dict(row)
            yield judge(key, event, prev)
            prev = event["signature"]
            after = event["id"]
