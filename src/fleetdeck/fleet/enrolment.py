"""Enrolment and trust: tokens that let hosts ask to join, the requests an administrator
approves or rejects, and revocation. Each agent is known by its Ed25519 public key."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetdeck.agent import protocol
from fleetdeck.agent.protocol import fingerprint
from fleetdeck.auth.service import Principal
from fleetdeck.auth.tokens import token_hash
from fleetdeck.clock import utcnow
from fleetdeck.errors import Conflict, Invalid, NotFound, Unauthorized
from fleetdeck.fleet.hub import Hub
from fleetdeck.fleet.local import LOCAL_AGENT_ID
from fleetdeck.store import agents, audit, groups
from fleetdeck.store.agents import AgentRow, RuleRow
from fleetdeck.store.engine import Database

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ENROLL_PREFIX = "fde_"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _ed25519() -> type[Ed25519PublicKey]:
    """cryptography is imported when the first agent shows up: ~10 MB a server watching only
    its own host never needs."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey


def verify(public_key_b64: str, signature_b64: object, payload: bytes) -> bool:
    """Whether `signature_b64` is this Ed25519 key's signature of `payload`."""
    if not isinstance(signature_b64, str):
        return False
    from cryptography.exceptions import InvalidSignature  # imported late: see _ed25519

    try:
        key = _ed25519().from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _checked_key(public_key: object) -> str:
    if not isinstance(public_key, str):
        raise Invalid("public_key must be a base64 Ed25519 public key", code="INVALID_KEY")
    try:
        raw = base64.b64decode(public_key, validate=True)
        _ed25519().from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("public_key must be a base64 Ed25519 public key", code="INVALID_KEY") from exc
    return public_key


def slug(hostname: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", hostname.lower()).strip("-.")[:56] or "host"


def matches(rule: RuleRow, hostname: str, address: str | None) -> bool:
    """A rule matches when every condition it sets holds (a rule sets at least one)."""
    if rule.hostname_pattern and not fnmatch.fnmatchcase(
        hostname.lower(), rule.hostname_pattern.lower()
    ):
        return False
    if rule.address_range:
        try:
            if address is None or ipaddress.ip_address(address) not in ipaddress.ip_network(
                rule.address_range, strict=False
            ):
                return False
        except ValueError:
            return False
    return bool(rule.hostname_pattern or rule.address_range)


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    token: str


async def create_token(
    db: Database, principal: Principal, *, name: str, uses: int | None,
    expires_at: datetime | None, ip: str | None,
) -> NewToken:  # fmt: skip
    raw = ENROLL_PREFIX + secrets.token_urlsafe(24)
    async with db.write() as conn:
        token_id = await agents.create_token(
            conn, name=name, token_hash=token_hash(raw), uses_left=uses,
            expires_at=expires_at, created_by=principal.actor,
        )  # fmt: skip
        await audit.record(
            conn, action="agents.token_create", success=True, actor=principal.actor, ip=ip,
            resource=f"enrollment_token:{token_id}", details={"name": name, "uses": uses},
        )  # fmt: skip
    return NewToken(token_id, raw)


async def enroll(
    db: Database, *, token: str, hostname: str, public_key: str, name: str | None,
    facts: dict[str, Any], ip: str | None,
) -> AgentRow:  # fmt: skip
    """A host asks to join. It waits as `pending` unless an administrator pre-registered its
    id (then it is approved at once). The same key enrolling again gets its existing record."""
    key = _checked_key(public_key)
    async with db.write() as conn:
        known = await agents.by_key(conn, key)
        if known is not None:
            if known.status in ("revoked", "rejected"):
                raise Unauthorized(f"this key was {known.status}", code="AGENT_REFUSED")
            return known
        if not await agents.spend_token(conn, token_hash(token)):
            await audit.record(
                conn, action="agents.enroll", success=False, actor=hostname[:64], ip=ip,
                details={"reason": "invalid token"},
            )  # fmt: skip
            raise Unauthorized(
                "the enrolment token is unknown, expired or used up",
                code="INVALID_ENROLLMENT_TOKEN",
            )
        agent_id = slug(hostname)
        existing = await agents.get(conn, agent_id)
        values = {
            "hostname": hostname,
            "public_key": key,
            "fingerprint": fingerprint(key),
            "architecture": str(facts.get("architecture", ""))[:32],
            "os": str(facts.get("os", ""))[:64],
            "version": str(facts.get("version", ""))[:32],
            "facts": facts,
            "address": ip,
        }
        rule = next((r for r in await agents.list_rules(conn) if matches(r, hostname, ip)), None)
        if existing is not None and existing.status == "expected":
            await agents.update(conn, agent_id, status="approved", approved_at=utcnow(), **values)
        else:
            n = 2
            while existing is not None or agent_id == LOCAL_AGENT_ID:
                agent_id = f"{slug(hostname)}-{n}"
                existing, n = await agents.get(conn, agent_id), n + 1
            if rule is None:
                await agents.insert(
                    conn, id=agent_id, name=name or hostname, status="pending", **values
                )
            else:  # a registration rule vouches for it
                await agents.insert(
                    conn, id=agent_id, name=name or hostname, status="approved",
                    approved_at=utcnow(), **values,
                )  # fmt: skip
        if rule is not None:
            for group_id in rule.groups:
                if await groups.get(conn, group_id) is not None:
                    await groups.add_member(conn, group_id, agent_id)
        await audit.record(
            conn, action="agents.enroll", success=True, actor=hostname[:64], ip=ip,
            resource=f"agent:{agent_id}",
            details={"fingerprint": values["fingerprint"], "rule": rule.id if rule else None},
        )  # fmt: skip
        found = await agents.get(conn, agent_id)
    assert found is not None
    return found


async def _agent(db: Database, agent_id: str) -> AgentRow:
    async with db.read() as conn:
        found = await agents.get(conn, agent_id)
    if found is None:
        raise NotFound(f"no agent {agent_id!r}", code="AGENT_NOT_FOUND")
    return found


async def decide(
    db: Database, principal: Principal, agent_id: str, decision: str, *, ip: str | None
) -> AgentRow:
    """approve or reject a pending agent; revoke an enrolled one (its key is refused after)."""
    agent = await _agent(db, agent_id)
    allowed = {"approve": ("pending",), "reject": ("pending",),
               "revoke": ("pending", "approved")}[decision]  # fmt: skip
    if agent.status not in allowed:
        raise Conflict(f"agent {agent_id} is {agent.status}", code="AGENT_STATE")
    status = {"approve": "approved", "reject": "rejected", "revoke": "revoked"}[decision]
    async with db.write() as conn:
        changes: dict[str, Any] = {"status": status}
        if decision == "approve":
            changes["approved_at"] = utcnow()
        await agents.update(conn, agent_id, **changes)
        await audit.record(
            conn, action=f"agents.{decision}", success=True, actor=principal.actor, ip=ip,
            resource=f"agent:{agent_id}", details={"fingerprint": agent.fingerprint},
        )  # fmt: skip
    return await _agent(db, agent_id)


async def preregister(
    db: Database, principal: Principal, agent_id: str, name: str, *, ip: str | None
) -> AgentRow:
    """Expect a host: when it enrols under this id (its hostname), it is approved at once."""
    if not ID_PATTERN.match(agent_id) or agent_id == LOCAL_AGENT_ID:
        raise Invalid("an agent id is 1-64 lower-case letters, digits or . _ -", code="INVALID_ID")
    async with db.write() as conn:
        if await agents.get(conn, agent_id) is not None:
            raise Conflict(f"agent {agent_id} exists", code="AGENT_EXISTS")
        await agents.insert(
            conn, id=agent_id, name=name, hostname=agent_id, status="expected", facts={}
        )
        await audit.record(
            conn, action="agents.preregister", success=True, actor=principal.actor, ip=ip,
            resource=f"agent:{agent_id}",
        )  # fmt: skip
    return await _agent(db, agent_id)


async def remove(db: Database, principal: Principal, agent_id: str, *, ip: str | None) -> None:
    if agent_id == LOCAL_AGENT_ID:
        raise Conflict("the server's own host cannot be removed", code="AGENT_STATE")
    await _agent(db, agent_id)
    async with db.write() as conn:
        await agents.delete(conn, agent_id)
        await audit.record(
            conn, action="agents.delete", success=True, actor=principal.actor, ip=ip,
            resource=f"agent:{agent_id}",
        )  # fmt: skip


ROTATE_TIMEOUT = 10.0


async def rotate(
    db: Database, hub: Hub, principal: Principal, agent_id: str, *, ip: str | None
) -> AgentRow:
    """Otto's identity rotation: the connected agent makes a new key and signs it with the old
    one; the server trusts the new key from then on and tells the agent to switch."""
    agent = await _agent(db, agent_id)
    if agent.status != "approved" or agent.public_key is None:
        raise Conflict(f"agent {agent_id} is {agent.status}", code="AGENT_STATE")
    reply, _ = await hub.request(agent_id, "rotate", ROTATE_TIMEOUT)
    new_key = reply.get("public_key")
    signed = isinstance(new_key, str) and verify(
        agent.public_key, reply.get("signature"), protocol.rotate_payload(new_key)
    )
    if not signed:
        raise Conflict(
            "the agent's new key was not signed by its current key", code="ROTATE_REFUSED"
        )
    key = _checked_key(new_key)
    async with db.write() as conn:
        if await agents.by_key(conn, key) is not None:
            raise Conflict("the agent offered a key already in use", code="ROTATE_REFUSED")
        await agents.update(conn, agent_id, public_key=key, fingerprint=fingerprint(key))
        await audit.record(
            conn, action="agents.rotate", success=True, actor=principal.actor, ip=ip,
            resource=f"agent:{agent_id}",
            details={"old": agent.fingerprint, "new": fingerprint(key)},
        )  # fmt: skip
    await hub.push(agent_id, "rotated", id=reply.get("id"))
    return await _agent(db, agent_id)
