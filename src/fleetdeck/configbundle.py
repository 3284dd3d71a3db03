"""Encrypted configuration export and import (Pulse `/api/config/export|import`).

A bundle holds the runtime settings changed through the API, the custom roles and the OIDC
setup (its client secret in clear, inside the encryption). It is AES-256-GCM under a key derived
from the passphrase with scrypt, so it can move between servers with different data-dir keys.
Users, sessions, tokens, the audit log and metrics are not configuration and are not included.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from fleetdeck import __version__
from fleetdeck.auth.keys import SecretBox
from fleetdeck.auth.permissions import unknown_permissions
from fleetdeck.clock import rfc3339, utcnow
from fleetdeck.errors import Invalid
from fleetdeck.store import audit, roles, settings_kv
from fleetdeck.store.engine import Database
from fleetdeck.store.roles import RoleRow

MAGIC = b"FDX1"
MIN_PASSPHRASE = 12
FORMAT_VERSION = 1
# Settings keys that are configuration (others, such as the tsdb watermark, are state).
EXPORTED_SETTINGS = ("refresh_interval",)
OIDC_KEY = "security.oidc"
_SALT, _NONCE = 16, 12


def _key(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # cryptography: on first use

    # scrypt at n=2^15, r=8 (32 MiB, ~0.1 s): costly to guess, cheap enough per export.
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise Invalid(
            f"the passphrase must be at least {MIN_PASSPHRASE} characters",
            code="WEAK_PASSPHRASE",
            details={"passphrase": f"at least {MIN_PASSPHRASE} characters"},
        )


def seal(document: dict[str, Any], passphrase: str) -> str:
    _check_passphrase(passphrase)
    salt, nonce = secrets.token_bytes(_SALT), secrets.token_bytes(_NONCE)
    plaintext = json.dumps(document, sort_keys=True).encode()
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealed = AESGCM(_key(passphrase, salt)).encrypt(nonce, plaintext, MAGIC)
    return base64.b64encode(MAGIC + salt + nonce + sealed).decode()


def unseal(bundle: str, passphrase: str) -> dict[str, Any]:
    _check_passphrase(passphrase)
    try:
        raw = base64.b64decode(bundle.strip(), validate=True)
    except ValueError as exc:
        raise Invalid("the bundle is not base64", code="INVALID_BUNDLE") from exc
    head = len(MAGIC) + _SALT + _NONCE
    if len(raw) <= head + 16 or not raw.startswith(MAGIC):
        raise Invalid("this is not a fleetdeck configuration bundle", code="INVALID_BUNDLE")
    salt = raw[len(MAGIC) : len(MAGIC) + _SALT]
    nonce = raw[len(MAGIC) + _SALT : head]
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        plaintext = AESGCM(_key(passphrase, salt)).decrypt(nonce, raw[head:], MAGIC)
    except InvalidTag as exc:
        raise Invalid(
            "wrong passphrase, or the bundle was altered", code="BUNDLE_REJECTED"
        ) from exc
    document = json.loads(plaintext)
    if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
        raise Invalid("unsupported bundle format", code="INVALID_BUNDLE")
    return document


async def export(db: Database, box: SecretBox, *, actor: str, ip: str | None) -> dict[str, Any]:
    async with db.write() as conn:
        await audit.record(
            conn, action="config.export", success=True, actor=actor, ip=ip, resource="config"
        )
        settings = {k: await settings_kv.get(conn, k) for k in EXPORTED_SETTINGS}
        custom = [r for r in await roles.list_all(conn) if not r.is_system]
        oidc = await settings_kv.get(conn, OIDC_KEY)
    if isinstance(oidc, dict) and oidc.get("client_secret"):
        oidc = {**oidc, "client_secret": box.open(oidc["client_secret"])}
    return {
        "format": FORMAT_VERSION,
        "fleetdeck": __version__,
        "exported_at": rfc3339(utcnow()),
        "settings": {k: v for k, v in settings.items() if v is not None},
        "roles": [
            {
                "id": r.id,
                "name": r.name,
                "description": r.description,
                "permissions": list(r.permissions),
                "host_groups": list(r.host_groups),
            }
            for r in custom
        ],
        "oidc": oidc,
    }


def _roles_of(document: dict[str, Any]) -> list[RoleRow]:
    try:
        found = [
            RoleRow(
                id=str(r["id"]),
                name=str(r["name"]),
                description=str(r.get("description", "")),
                permissions=tuple(str(p) for p in r["permissions"]),
                is_system=False,
                host_groups=tuple(str(g) for g in r.get("host_groups", [])),
            )
            for r in document.get("roles", [])
        ]
    except (KeyError, TypeError) as exc:
        raise Invalid(f"a role in the bundle is malformed: {exc}", code="INVALID_BUNDLE") from exc
    for role in found:
        if unknown_permissions(role.permissions):
            raise Invalid(f"role {role.id} names unknown permissions", code="INVALID_BUNDLE")
    return found


async def restore(
    db: Database, box: SecretBox, document: dict[str, Any], *, actor: str, ip: str | None
) -> dict[str, int]:
    """Apply a bundle in one transaction: all of it or, on any error, nothing."""
    bundle_roles = _roles_of(document)
    settings = document.get("settings") or {}
    if not isinstance(settings, dict):
        raise Invalid("settings in the bundle are malformed", code="INVALID_BUNDLE")
    interval = settings.get("refresh_interval")
    if interval is not None and not (
        isinstance(interval, int | float)
        and not isinstance(interval, bool)
        and 1 <= interval <= 3600
    ):
        raise Invalid("refresh_interval in the bundle is out of range", code="INVALID_BUNDLE")
    oidc = document.get("oidc")
    if oidc is not None and not isinstance(oidc, dict):
        raise Invalid("oidc in the bundle is malformed", code="INVALID_BUNDLE")
    async with db.write() as conn:
        system = {r.id for r in await roles.list_all(conn) if r.is_system}
        clash = sorted(r.id for r in bundle_roles if r.id in system)
        if clash:
            raise Invalid(f"the bundle redefines system roles: {clash}", code="INVALID_BUNDLE")
        for role in bundle_roles:
            if await roles.get(conn, role.id) is None:
                await roles.create(conn, role)
            else:
                await roles.update(conn, role)
        applied = 0
        for key in EXPORTED_SETTINGS:
            if key in settings:
                await settings_kv.put(conn, key, settings[key])
                applied += 1
        if oidc:
            secret = oidc.get("client_secret")
            sealed = {**oidc, "client_secret": box.seal(secret) if secret else None}
            await settings_kv.put(conn, OIDC_KEY, sealed)
        counts = {"roles": len(bundle_roles), "settings": applied, "oidc": 1 if oidc else 0}
        await audit.record(
            conn,
            action="config.import",
            success=True,
            actor=actor,
            ip=ip,
            resource="config",
            details={**counts, "exported_at": document.get("exported_at")},
        )
    return counts
