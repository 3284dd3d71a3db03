"""Alert rules, alert instances and their transitions. Functions take a connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.alerts.rules import Rule
from fleetdeck.clock import utcnow
from fleetdeck.store.tables import alert_rules, alert_transitions, alerts

ACTIVE_STATES = ("pending", "firing")


def _rule(row: sa.RowMapping) -> Rule:
    return Rule(
        id=row["id"],
        name=row["name"],
        metric=row["metric"],
        comparison=row["comparison"],
        warning=row["warning"],
        critical=row["critical"],
        for_seconds=row["for_seconds"],
        hysteresis=row["hysteresis"],
        scope=row["scope"],
        scope_value=row["scope_value"],
        enabled=row["enabled"],
        builtin=row["builtin"],
    )


def _rule_values(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "metric": rule.metric,
        "comparison": rule.comparison,
        "warning": rule.warning,
        "critical": rule.critical,
        "for_seconds": rule.for_seconds,
        "hysteresis": rule.hysteresis,
        "scope": rule.scope,
        "scope_value": rule.scope_value,
        "enabled": rule.enabled,
        "builtin": rule.builtin,
    }


async def list_rules(conn: AsyncConnection) -> list[Rule]:
    rows = await conn.execute(
        sa.select(alert_rules).order_by(alert_rules.c.builtin.desc(), alert_rules.c.created_at)
    )
    return [_rule(r) for r in rows.mappings()]


async def get_rule(conn: AsyncConnection, rule_id: str) -> Rule | None:
    row = (
        (await conn.execute(sa.select(alert_rules).where(alert_rules.c.id == rule_id)))
        .mappings()
        .first()
    )
    return None if row is None else _rule(row)


async def put_rule(conn: AsyncConnection, rule: Rule) -> None:
    values = _rule_values(rule)
    updated = await conn.execute(
        alert_rules.update().where(alert_rules.c.id == rule.id).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(alert_rules.insert().values(id=rule.id, created_at=utcnow(), **values))


async def delete_rule(conn: AsyncConnection, rule_id: str) -> None:
    await conn.execute(alert_rules.delete().where(alert_rules.c.id == rule_id))


@dataclass(slots=True)
class AlertRow:
    id: str
    rule_id: str
    agent_id: str
    series: str
    level: str
    state: str
    value: float
    threshold: float
    started_at: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    snoozed_until: datetime | None = None

    def values(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "agent_id": self.agent_id,
            "series": self.series,
            "level": self.level,
            "state": self.state,
            "value": self.value,
            "threshold": self.threshold,
            "started_at": self.started_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "snoozed_until": self.snoozed_until,
            "updated_at": utcnow(),
        }


def _alert(row: sa.RowMapping) -> AlertRow:
    return AlertRow(**{k: row[k] for k in AlertRow.__slots__})


async def save_alert(conn: AsyncConnection, alert: AlertRow) -> None:
    updated = await conn.execute(
        alerts.update().where(alerts.c.id == alert.id).values(**alert.values())
    )
    if updated.rowcount == 0:
        await conn.execute(alerts.insert().values(id=alert.id, **alert.values()))


async def add_transition(
    conn: AsyncConnection, alert: AlertRow, from_state: str | None, to_state: str
) -> int:
    result = await conn.execute(
        alert_transitions.insert().values(
            alert_id=alert.id,
            at=utcnow(),
            from_state=from_state,
            to_state=to_state,
            level=alert.level,
            value=alert.value,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def active(conn: AsyncConnection) -> list[AlertRow]:
    rows = await conn.execute(sa.select(alerts).where(alerts.c.state.in_(ACTIVE_STATES)))
    return [_alert(r) for r in rows.mappings()]


async def get(conn: AsyncConnection, alert_id: str) -> AlertRow | None:
    row = (await conn.execute(sa.select(alerts).where(alerts.c.id == alert_id))).mappings().first()
    return None if row is None else _alert(row)


async def search(
    conn: AsyncConnection,
    *,
    states: tuple[str, ...] | None,
    agent_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AlertRow], int]:
    where: list[sa.ColumnElement[bool]] = []
    if states:
        where.append(alerts.c.state.in_(states))
    if agent_id:
        where.append(alerts.c.agent_id == agent_id)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(alerts).where(*where))
    ).scalar_one()
    rows = await conn.execute(
        sa.select(alerts)
        .where(*where)
        .order_by(alerts.c.started_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_alert(r) for r in rows.mappings()], int(total)


async def transitions(
    conn: AsyncConnection,
    *,
    alert_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where: list[sa.ColumnElement[bool]] = []
    if alert_id:
        where.append(alert_transitions.c.alert_id == alert_id)
    if since:
        where.append(alert_transitions.c.at >= since)
    if until:
        where.append(alert_transitions.c.at <= until)
    base = sa.select(alert_transitions, alerts.c.rule_id, alerts.c.agent_id, alerts.c.series).join(
        alerts, alerts.c.id == alert_transitions.c.alert_id
    )
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(alert_transitions).where(*where))
    ).scalar_one()
    rows = await conn.execute(
        base.where(*where).order_by(alert_transitions.c.id.desc()).limit(limit).offset(offset)
    )
    return [dict(r) for r in rows.mappings()], int(total)
