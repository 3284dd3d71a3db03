"""Alerts (Tyto `/api/v1/alerts`, `/alerts/config`, `/alerts/{id}/acknowledge`), rules, snooze
and the history of transitions."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from fleetdeck.alerts.evaluator import Evaluator
from fleetdeck.alerts.rules import Rule
from fleetdeck.alerts.states import STATE_FAMILIES
from fleetdeck.api.deps import DatabaseDep, audit_call, require
from fleetdeck.api.pagination import PageDep, add_page_headers
from fleetdeck.auth.service import Principal
from fleetdeck.clock import parse_time, rfc3339, utcnow
from fleetdeck.errors import Forbidden, Invalid, NotFound
from fleetdeck.store import alerts as store
from fleetdeck.store.alerts import AlertRow
from fleetdeck.tsdb.series import METRICS, family

router = APIRouter(prefix="/alerts", tags=["alerts"])

CanRead = Annotated[Principal, Depends(require("alerts:read"))]
CanAck = Annotated[Principal, Depends(require("alerts:acknowledge"))]
CanWrite = Annotated[Principal, Depends(require("alerts:write"))]
AlertId = Annotated[str, Path(max_length=64)]
RULE_ID = re.compile(r"[^a-z0-9]+")


def get_evaluator(request: Request) -> Evaluator:
    evaluator: Evaluator = request.app.state.evaluator
    return evaluator


EvaluatorDep = Annotated[Evaluator, Depends(get_evaluator)]


class Alert(BaseModel):
    id: str
    type: str = Field(description="The rule's metric family (`cpu`, `memory`, `disk`, ...).")
    level: str
    value: float
    threshold: float
    agent_id: str
    created_at: str
    acknowledged: bool
    state: str = Field(description="pending, firing or resolved.")
    rule_id: str
    series: str
    fired_at: str | None
    resolved_at: str | None
    acknowledged_by: str | None
    snoozed_until: str | None


class Levels(BaseModel):
    warning: float = Field(ge=0, le=100)
    critical: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if self.critical < self.warning:
            raise ValueError("critical must not be below warning")
        return self


class ThresholdConfig(BaseModel):
    cpu: Levels
    memory: Levels
    disk: Levels


class AlertList(BaseModel):
    alerts: list[Alert]
    config: ThresholdConfig


class Snooze(BaseModel):
    until: AwareDatetime = Field(description="No notifications for this alert until then.")


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    metric: str = Field(
        min_length=1,
        max_length=255,
        description="A stored series (`disk[/]`, `temp[Core 0]`) or a family (`disk`).",
    )
    comparison: Literal[">", ">=", "<", "<="] = ">"
    warning: float | None = None
    critical: float | None = None
    for_seconds: int = Field(60, ge=0, le=86400, description="How long before firing.")
    hysteresis: float = Field(0, ge=0, description="How far back before resolving.")
    scope: Literal["all", "group", "host"] = "all"
    scope_value: str | None = Field(None, max_length=128)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> RuleIn:
        if self.warning is None and self.critical is None:
            raise ValueError("give a warning or a critical level, or both")
        if self.scope != "all" and not self.scope_value:
            raise ValueError("scope_value names the group or host")
        return self


class RuleOut(RuleIn):
    id: str
    builtin: bool


class RuleList(BaseModel):
    rules: list[RuleOut]


class Transition(BaseModel):
    id: int
    alert_id: str
    rule_id: str
    agent_id: str
    series: str
    at: str
    from_state: str | None
    to_state: str
    level: str
    value: float


class TransitionList(BaseModel):
    transitions: list[Transition]
    total: int


def alert_out(alert: AlertRow, rules: dict[str, Rule]) -> Alert:
    rule = rules.get(alert.rule_id)
    return Alert(
        id=alert.id,
        type=rule.family if rule else family(alert.series),
        level=alert.level,
        value=alert.value,
        threshold=alert.threshold,
        agent_id=alert.agent_id,
        created_at=rfc3339(alert.started_at) or "",
        acknowledged=alert.acknowledged_at is not None,
        state=alert.state,
        rule_id=alert.rule_id,
        series=alert.series,
        fired_at=rfc3339(alert.fired_at),
        resolved_at=rfc3339(alert.resolved_at),
        acknowledged_by=alert.acknowledged_by,
        snoozed_until=rfc3339(alert.snoozed_until),
    )


def rule_out(rule: Rule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        metric=rule.metric,
        comparison=rule.comparison,  # type: ignore[arg-type]
        warning=rule.warning,
        critical=rule.critical,
        for_seconds=rule.for_seconds,
        hysteresis=rule.hysteresis,
        scope=rule.scope,  # type: ignore[arg-type]
        scope_value=rule.scope_value,
        enabled=rule.enabled,
        builtin=rule.builtin,
    )


def _config(rules: dict[str, Rule]) -> ThresholdConfig:
    def levels(rule_id: str) -> Levels:
        rule = rules[rule_id]
        return Levels(warning=rule.warning or 0.0, critical=rule.critical or 0.0)

    return ThresholdConfig(cpu=levels("cpu"), memory=levels("memory"), disk=levels("disk"))


@router.get("", response_model=AlertList)
async def list_alerts(
    request: Request,
    response: Response,
    db: DatabaseDep,
    evaluator: EvaluatorDep,
    page: PageDep,
    _: CanRead,
    state: Annotated[
        Literal["active", "pending", "firing", "resolved", "all"],
        Query(description="`active` (default) is pending and firing."),
    ] = "active",
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
) -> AlertList:
    """Current alerts and the global thresholds."""
    states = {"active": ("pending", "firing"), "all": None}.get(state, (state,))
    async with db.read() as conn:
        rows, total = await store.search(
            conn, states=states, agent_id=agent_id, limit=page.limit, offset=page.offset
        )
    if states is None or "pending" in states:  # pending alerts live in the evaluator only
        pending = evaluator.pending_alerts(agent_id)
        total += len(pending)
        if page.offset == 0:
            rows = sorted(pending, key=lambda a: a.started_at, reverse=True) + rows
    add_page_headers(request, response, page, total)
    return AlertList(
        alerts=[alert_out(a, evaluator.rules) for a in rows], config=_config(evaluator.rules)
    )


@router.post("/config", response_model=ThresholdConfig)
async def set_config(
    body: ThresholdConfig,
    request: Request,
    db: DatabaseDep,
    evaluator: EvaluatorDep,
    principal: CanWrite,
) -> ThresholdConfig:
    """Change the warning and critical levels of the cpu, memory and disk rules."""
    async with db.write() as conn:
        for rule_id, levels in (("cpu", body.cpu), ("memory", body.memory), ("disk", body.disk)):
            rule = evaluator.rules[rule_id]
            await store.put_rule(
                conn, replace(rule, warning=levels.warning, critical=levels.critical)
            )
        await audit_call(
            conn,
            request,
            principal,
            "alerts.config",
            resource="alerts:config",
            details=body.model_dump(),
        )
    await evaluator.reload_rules()
    return _config(evaluator.rules)


async def _alert(db: DatabaseDep, alert_id: str) -> AlertRow:
    async with db.read() as conn:
        alert = await store.get(conn, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", code="ALERT_NOT_FOUND")
    return alert


@router.post("/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge(
    alert_id: AlertId,
    request: Request,
    db: DatabaseDep,
    evaluator: EvaluatorDep,
    principal: CanAck,
) -> Alert:
    """Mark an alert as seen; it keeps firing until its condition clears."""
    alert = await _alert(db, alert_id)
    alert.acknowledged_by, alert.acknowledged_at = principal.actor, utcnow()
    async with db.write() as conn:
        await store.save_alert(conn, alert)
        await audit_call(
            conn, request, principal, "alerts.acknowledge", resource=f"alert:{alert_id}"
        )
    evaluator.acknowledge(alert)
    return alert_out(alert, evaluator.rules)


@router.post("/{alert_id}/snooze", response_model=Alert)
async def snooze(
    alert_id: AlertId,
    body: Snooze,
    request: Request,
    db: DatabaseDep,
    evaluator: EvaluatorDep,
    principal: CanAck,
) -> Alert:
    """No notifications for this alert until `until`."""
    alert = await _alert(db, alert_id)
    alert.snoozed_until = body.until.astimezone(UTC).replace(tzinfo=None)
    async with db.write() as conn:
        await store.save_alert(conn, alert)
        await audit_call(
            conn,
            request,
            principal,
            "alerts.snooze",
            resource=f"alert:{alert_id}",
            details={"until": rfc3339(alert.snoozed_until)},
        )
    evaluator.acknowledge(alert)
    return alert_out(alert, evaluator.rules)


@router.get("/history", response_model=TransitionList)
async def history(
    request: Request,
    response: Response,
    db: DatabaseDep,
    page: PageDep,
    _: CanRead,
    alert_id: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
) -> TransitionList:
    """Every state change of every alert, newest first."""
    try:
        since = parse_time(from_).replace(tzinfo=None) if from_ else None
        until = parse_time(to).replace(tzinfo=None) if to else None
    except ValueError as exc:
        raise Invalid(f"unparsable time: {exc}", code="INVALID_TIME") from exc
    async with db.read() as conn:
        rows, total = await store.transitions(
            conn, alert_id=alert_id, since=since, until=until, limit=page.limit, offset=page.offset
        )
    add_page_headers(request, response, page, total)
    return TransitionList(
        transitions=[Transition(**{**r, "at": rfc3339(r["at"]) or ""}) for r in rows], total=total
    )


@router.get("/rules", response_model=RuleList)
async def list_rules(evaluator: EvaluatorDep, _: CanRead) -> RuleList:
    return RuleList(rules=[rule_out(r) for r in evaluator.rules.values()])


def _checked(body: RuleIn, rule_id: str, builtin: bool) -> Rule:
    if family(body.metric) not in METRICS and family(body.metric) not in STATE_FAMILIES:
        known = sorted([*METRICS, *STATE_FAMILIES])
        raise Invalid(
            f"unknown metric {body.metric!r}; families: {', '.join(known)}",
            code="UNKNOWN_METRIC",
        )
    values = body.model_dump()
    return Rule(id=rule_id, builtin=builtin, **values)


async def _save_rule(
    request: Request, db: DatabaseDep, evaluator: Evaluator, principal: Principal, rule: Rule,
    action: str,
) -> RuleOut:  # fmt: skip
    async with db.write() as conn:
        await store.put_rule(conn, rule)
        await audit_call(
            conn,
            request,
            principal,
            action,
            resource=f"alert_rule:{rule.id}",
            details={"metric": rule.metric, "warning": rule.warning, "critical": rule.critical},
        )
    await evaluator.reload_rules()
    return rule_out(rule)


@router.post("/rules", response_model=RuleOut, status_code=201)
async def create_rule(
    body: RuleIn, request: Request, db: DatabaseDep, evaluator: EvaluatorDep, principal: CanWrite
) -> RuleOut:
    rule_id = RULE_ID.sub("-", body.name.lower()).strip("-")[:56] or "rule"
    while rule_id in evaluator.rules:
        rule_id = f"{rule_id}-x"
    rule = _checked(body, rule_id, builtin=False)
    return await _save_rule(request, db, evaluator, principal, rule, "alerts.rule_create")


@router.put("/rules/{rule_id}", response_model=RuleOut)
async def update_rule(
    rule_id: Annotated[str, Path(max_length=64)],
    body: RuleIn,
    request: Request,
    db: DatabaseDep,
    evaluator: EvaluatorDep,
    principal: CanWrite,
) -> RuleOut:
    existing = evaluator.rules.get(rule_id)
    if existing is None:
        raise NotFound(f"no alert rule {rule_id}", code="RULE_NOT_FOUND")
    if existing.builtin and body.metric != existing.metric:
        raise Forbidden("a built-in rule keeps its metric", code="BUILTIN_RULE")
    rule = _checked(body, rule_id, builtin=existing.builtin)
    return await _save_rule(request, db, evaluator, principal, rule, "alerts.rule_update")


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: Annotated[str, Path(max_length=64)],
    request: Request,
    db: DatabaseDep,
    evaluator: EvaluatorDep,
    principal: CanWrite,
) -> Response:
    """Delete a rule (built-in rules can only be disabled); its active alerts resolve."""
    existing = evaluator.rules.get(rule_id)
    if existing is None:
        raise NotFound(f"no alert rule {rule_id}", code="RULE_NOT_FOUND")
    if existing.builtin:
        raise Forbidden("built-in rules can be disabled, not deleted", code="BUILTIN_RULE")
    async with db.write() as conn:
        await store.delete_rule(conn, rule_id)
        await audit_call(
            conn, request, principal, "alerts.rule_delete", resource=f"alert_rule:{rule_id}"
        )
    await evaluator.reload_rules()
    return Response(status_code=204)
