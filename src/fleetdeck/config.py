"""Settings, read in one place: defaults < fleetdeck.toml < FLEETDECK_* env < command-line flags."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fleetdeck.datadir import DATABASE_FILE

DEFAULT_CONFIG_FILE = Path("fleetdeck.toml")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """`90`, `90s`, `15m`, `24h`, `7d` -> seconds; other text is refused. Numbers are left for
    int validation."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+)\s*([smhd]?)\s*", value)
        if not match:
            raise ValueError("not a duration: give seconds, or a number with s, m, h or d (24h)")
        return int(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]


def parse_networks(value: object) -> object:
    """`127.0.0.1, 10.0.0.0/8` -> the same, checked and tidied: every entry an address or a
    network. (uvicorn would take a typo as a literal host name and never match it.)"""
    if not isinstance(value, str):
        return value
    entries = [part.strip() for part in value.split(",") if part.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network (10.0.0.0/8, 127.0.0.1, ::1)"
            ) from None
    return ",".join(entries)


Networks = Annotated[str, BeforeValidator(parse_networks)]


class Settings(BaseSettings):
    """Every setting fleetdeck reads. `docs/configuration.md` lists each one (a test checks)."""

    model_config = SettingsConfigDict(
        env_prefix="FLEETDECK_", extra="forbid", toml_file=DEFAULT_CONFIG_FILE
    )

    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port the server listens on.")
    tls: Literal["off", "auto"] = Field(
        "off",
        description=(
            "`auto`: serve HTTPS with a private CA and certificate made in the data dir "
            "(`tls/`); the CA fingerprint is logged at start for agents to pin."
        ),
    )
    tls_names: str = Field(
        "",
        description=(
            "Extra host names or addresses (comma-separated) the `auto` certificate covers, "
            "besides localhost, loopback, this host's names and the listen address."
        ),
    )
    data_dir: Path = Field(
        Path("fleetdeck-data"), description="Directory for the SQLite database and other state."
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the database; default is SQLite in the data dir. PostgreSQL: "
            "`postgresql+psycopg://user:pass@host/db`."
        ),
    )
    refresh_interval: float = Field(
        5.0, ge=1, le=3600, description="Seconds between two metric snapshots of a host."
    )
    process_interval: float = Field(
        15.0,
        ge=1,
        le=3600,
        description=(
            "Seconds between process, container and service scans while nobody watches the "
            "host live (while someone does, they run at every refresh)."
        ),
    )
    top_processes: int = Field(
        10, ge=1, le=100, description="Entries in `topByCpu` and `topByMemory`."
    )
    admin_password: SecretStr | None = Field(
        None,
        description=(
            "Password of the `admin` account created at first start. Unset: a random one is "
            "printed once and must be changed at first login."
        ),
    )
    admin_password_file: Path | None = Field(
        None, description="File holding the first admin password (for secrets managers)."
    )
    session_ttl: int = Field(
        86400, ge=60, le=90 * 86400, description="Seconds a login session stays valid."
    )
    lockout_threshold: int = Field(
        5,
        ge=1,
        le=1000,
        description=(
            "Consecutive failed logins or password changes that lock the account and the source IP."
        ),
    )
    lockout_duration: Duration = Field(
        900, ge=1, le=86400, description="How long a lockout lasts (`15m`, or seconds)."
    )
    login_rate_limit: int = Field(
        5, ge=1, le=10000, description="Login attempts allowed per source IP per minute."
    )
    enroll_rate_limit: int = Field(
        120,
        ge=1,
        le=1_000_000,
        description="Agent enrolment requests allowed per source IP per minute.",
    )
    api_rate_limit: int = Field(
        1200,
        ge=0,
        le=1_000_000,
        description="API requests allowed per user (or token) per minute; 0 turns the limit off.",
    )
    allow_registration: bool = Field(
        False,
        description="Let anyone create an account with `POST /api/v1/auth/register`.",
    )
    registration_role: str = Field(
        "viewer", description="Role given to accounts created by registration."
    )
    public_url: str | None = Field(
        None,
        description=(
            "URL users reach the server at (e.g. `https://fleet.example.com`); used for the "
            "OIDC redirect URI. Default: taken from each request."
        ),
    )
    trusted_proxies: Networks = Field(
        "",
        description=(
            "Reverse proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` "
            "and `X-Forwarded-Proto` are believed: the client's address (rate limits, lockout, "
            "audit) and scheme (secure cookies) then come from them. Empty: ignored."
        ),
    )
    notify_allow_private: bool = Field(
        False,
        description=(
            "Let webhooks target loopback and private addresses (link-local and cloud metadata "
            "addresses stay refused)."
        ),
    )
    notify_max_attempts: int = Field(
        8, ge=1, le=100, description="Delivery attempts before a message goes to the dead letters."
    )
    notify_retry_base: float = Field(
        2.0,
        ge=0.01,
        le=3600,
        description="Seconds before the first retry; each next one waits twice as long (+-50 %).",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted; larger ones get 413."
    )
    retention_raw: Duration = Field(
        86400, ge=3600, description="How long raw samples are kept (`24h`, `2d`, or seconds)."
    )
    retention_1m: Duration = Field(
        7 * 86400, ge=3600, description="How long 1-minute rollups are kept."
    )
    retention_5m: Duration = Field(
        30 * 86400, ge=3600, description="How long 5-minute rollups are kept."
    )
    retention_1h: Duration = Field(
        400 * 86400, ge=3600, description="How long hourly rollups are kept."
    )
    tsdb_flush_interval: float = Field(
        1.0,
        ge=0.05,
        le=1.0,
        description="Seconds between writes of new samples to the write-ahead log (at most 1).",
    )
    tsdb_compaction_interval: Duration = Field(
        300,
        ge=10,
        le=3600,
        description="How often new samples are compressed into the database (`5m`).",
    )
    backup_dir: Path | None = Field(
        None,
        description=(
            "Where the server writes a backup archive every `backup_interval` "
            "(`fleetdeck backup restore` reads them). Unset: no scheduled backups."
        ),
    )
    backup_interval: Duration = Field(
        86400, ge=1, description="Time between scheduled backups (`1d`, `12h`)."
    )
    backup_keep: int = Field(
        7, ge=1, le=1000, description="Scheduled backups kept; older ones are deleted."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Server log verbosity."
    )

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        if self.admin_password is None and self.admin_password_file is not None:
            text = self.admin_password_file.read_text().strip()
            if not text:
                raise ValueError(f"admin_password_file {self.admin_password_file} is empty")
            self.admin_password = SecretStr(text)
        return self

    @property
    def retention_seconds(self) -> dict[str, int]:
        return {
            "raw": self.retention_raw,
            "1m": self.retention_1m,
            "5m": self.retention_5m,
            "1h": self.retention_1h,
        }

    @property
    def retention_ms(self) -> dict[str, int]:
        return {tier: seconds * 1000 for tier, seconds in self.retention_seconds.items()}

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


# What `load_settings` raises for a configuration that cannot be used: the commands report it
# as "invalid configuration" and exit with status 2.
INVALID = (ValidationError, FileNotFoundError, ValueError, OSError)


def _is_duration(name: str) -> bool:
    field = Settings.model_fields.get(name)
    return field is not None and any(
        getattr(m, "func", None) is parse_duration for m in field.metadata
    )


def duration_text(seconds: int) -> str:
    """3600 -> `1h`, 90 -> `90s`: the largest unit that divides it."""
    unit = next(u for u in "dhms" if seconds % _UNITS[u] == 0)
    return f"{seconds // _UNITS[unit]}{unit}"


def describe_invalid(exc: Exception) -> str:
    """What `load_settings` raised, as a person fixing their configuration wants it: one line
    per setting with where it is set and the value given (not pydantic's internal names)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    lines = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "configuration"
        message = error["msg"].removeprefix("Value error, ")
        given = error["input"]
        ctx = error.get("ctx") or {}
        limit = ctx.get("ge", ctx.get("le"))
        if error["type"] == "extra_forbidden":
            message = "no such setting (docs/configuration.md lists them)"
        elif limit is not None and _is_duration(name):
            bound = "at least" if error["type"] == "greater_than_equal" else "at most"
            message = f"must be {bound} {duration_text(int(limit))}"
            if isinstance(given, int) and given > 0:
                given = duration_text(given)
        where = f"FLEETDECK_{name.upper()} or `{name}` in the config file"
        lines.append(f"\n  {name} ({where}): {message}, got {given!r}")
    return "".join(lines)


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build the settings; `flags` are command-line values (None means "not given").

    An explicitly named config file must exist; the default `./fleetdeck.toml` is optional.
    """
    path = config_file or DEFAULT_CONFIG_FILE
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    given = {k: v for k, v in flags.items() if v is not None}
    settings = _FileSettings(**given)
    return Settings.model_construct(**dict(settings))
