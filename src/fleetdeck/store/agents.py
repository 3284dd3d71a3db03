"""Agents and enrolment tokens. Functions take a connection and never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.clock import utcnow
from fleetdeck.store.tables import agents, enrollment_tokens, registration_rules


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str
    hostname: str
    status: str
    public_key: str | None
    fingerprint: str | None
    architecture: str
    os: str
    version: str
    facts: dict[str, Any]
    address: str | None
    registered_at: datetime
    approved_at: datetime | None
    last_seen: datetime | None
    config: dict[str, Any]


def _agent(row: sa.RowMapping) -> AgentRow:
    return AgentRow(**{k: row[k] for k in AgentRow.__slots__})


async def list_all(conn: AsyncConnection, status: str | None = None) -> list[AgentRow]:
    stmt = sa.select(agents).order_by(agents.c.id)
    if status is not None:
        stmt = stmt.where(agents.c.status == status)
    return [_agent(r) for r in (await conn.execute(stmt)).mappings()]


async def get(conn: AsyncConnection, agent_id: str) -> AgentRow | None:
    row = (await conn.execute(sa.select(agents).where(agents.c.id == agent_id))).mappings().first()
    return None if row is None else _agent(row)


async def by_key(conn: AsyncConnection, public_key: str) -> AgentRow | None:
    row = (
        (await conn.execute(sa.select(agents).where(agents.c.public_key == public_key)))
        .mappings()
        .first()
    )
    return None if row is None else _agent(row)


async def insert(conn: AsyncConnection, **values: Any) -> None:
    values.setdefault("config", {})
    await conn.execute(agents.insert().values(registered_at=utcnow(), **values))


async def update(conn: AsyncConnection, agent_id: str, **values: Any) -> None:
    await conn.execute(agents.update().where(agents.c.id == agent_id).values(**values))


async def set_last_seen(conn: AsyncConnection, seen: list[tuple[str, datetime]]) -> None:
    """Many agents' last_seen in one executemany (a fleet's worth every 30 s)."""
    if not seen:
        return
    stmt = (
        agents.update()
        .where(agents.c.id == sa.bindparam("agent_id"))
        .values(last_seen=sa.bindparam("seen"))
    )
    await conn.execute(stmt, [{"agent_id": a, "seen": t} for a, t in seen])


async def delete(conn: AsyncConnection, agent_id: str) -> None:
    await conn.execute(agents.delete().where(agents.c.id == agent_id))


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    name: str
    uses_left: int | None
    expires_at: datetime | None
    created_by: str
    created_at: datetime


async def create_token(
    conn: AsyncConnection,
    *,
    name: str,
    token_hash: str,
    uses_left: int | None,
    expires_at: datetime | None,
    created_by: str,
) -> str:
    token_id = str(uuid.uuid4())
    await conn.execute(
        enrollment_tokens.insert().values(
            id=token_id, name=name, token_hash=token_hash, uses_left=uses_left,
            expires_at=expires_at, created_by=created_by, created_at=utcnow(),
        )
    )  # fmt: skip
    return token_id


async def list_tokens(conn: AsyncConnection) -> list[TokenRow]:
    rows = await conn.execute(
        sa.select(enrollment_tokens).order_by(enrollment_tokens.c.created_at.desc())
    )
    return [
        TokenRow(r.id, r.name, r.uses_left, r.expires_at, r.created_by, r.created_at) for r in rows
    ]


async def delete_token(conn: AsyncConnection, token_id: str) -> bool:
    gone = await conn.execute(enrollment_tokens.delete().where(enrollment_tokens.c.id == token_id))
    return gone.rowcount > 0


async def spend_token(conn: AsyncConnection, token_hash: str) -> bool:
    """Use one enrolment of a valid token: a conditional update, so a token with one use left
    admits exactly one host however many race for it."""
    c = enrollment_tokens.c
    now = utcnow()
    live = sa.and_(c.token_hash == token_hash, sa.or_(c.expires_at.is_(None), c.expires_at > now))
    limited = await conn.execute(
        enrollment_tokens.update().where(live, c.uses_left > 0).values(uses_left=c.uses_left - 1)
    )
    if limited.rowcount == 1:
        return True
    unlimited = await conn.execute(sa.select(c.id).where(live, c.uses_left.is_(None)))
    return unlimited.first() is not None


@dataclass(frozen=True, slots=True)
class RuleRow:
    id: str
    name: str
    hostname_pattern: str | None
    address_range: str | None
    groups: list[str]
    created_at: datetime


def _rule(row: sa.RowMapping) -> RuleRow:
    return RuleRow(**{k: row[k] for k in RuleRow.__slots__})


async def list_rules(conn: AsyncConnection) -> list[RuleRow]:
    stmt = sa.select(registration_rules).order_by(registration_rules.c.created_at)
    return [_rule(r) for r in (await conn.execute(stmt)).mappings()]


async def get_rule(conn: AsyncConnection, rule_id: str) -> RuleRow | None:
    stmt = sa.select(registration_rules).where(registration_rules.c.id == rule_id)
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else _rule(row)


async def put_rule(conn: AsyncConnection, rule_id: str | None, **values: Any) -> str:
    """Insert (rule_id None) or replace a rule; returns its id."""
    if rule_id is None:
        rule_id = str(uuid.uuid4())
        await conn.execute(
            registration_rules.insert().values(id=rule_id, created_at=utcnow(), **values)
        )
    else:
        await conn.execute(
            registration_rules.update().where(registration_rules.c.id == rule_id).values(**values)
        )
    return rule_id


async def delete_rule(conn: AsyncConnection, rule_id: str) -> bool:
    gone = await conn.execute(registration_rules.delete().where(registration_rules.c.id == rule_id))
    return gone.rowcount > 0
