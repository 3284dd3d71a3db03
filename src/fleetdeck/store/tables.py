"""Table definitions, shared by SQLite and PostgreSQL. Change them only with a migration."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are stored as UTC datetimes without zone (SQLite has none); the repositories attach UTC.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("email", sa.String(254), nullable=True),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("auth_provider", sa.String(32), nullable=False, server_default="local"),
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_login", sa.DateTime, nullable=True),
    sa.Column("totp_secret", sa.String(255), nullable=True),  # encrypted (auth/secretbox.py)
    sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("permissions", sa.JSON, nullable=False),
    sa.Column("is_system", sa.Boolean, nullable=False, server_default=sa.false()),
    # Host groups the role's grants are limited to; empty means every host.
    sa.Column("host_groups", sa.JSON, nullable=False, server_default=sa.text("'[]'")),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Index("ix_sessions_user_id", "user_id"),
)

settings_kv = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(255), nullable=True),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    # HMAC-SHA256 chain (auth/audit_chain.py): each event signs its content and its predecessor.
    sa.Column("prev_signature", sa.String(64), nullable=True),
    sa.Column("signature", sa.String(64), nullable=True),
    sa.Index("ix_audit_events_timestamp", "timestamp"),
    sa.Index("ix_audit_events_actor", "actor"),
    sa.Index("ix_audit_events_action", "action"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),  # shown in lists to tell tokens apart
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
    sa.Column("last_used_at", sa.DateTime, nullable=True),
)

# Consecutive failures per key ("user:NAME" or "ip:ADDRESS"), shared by login and password change.
auth_lockouts = sa.Table(
    "auth_lockouts",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", sa.DateTime, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

mfa_recovery_codes = sa.Table(
    "mfa_recovery_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("used_at", sa.DateTime, nullable=True),
)

user_preferences = sa.Table(
    "user_preferences",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("panel_config", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Time series (tsdb/). Series ids are small integers; samples live compressed in chunks, one
# row per host, schema (set of series) and run of ticks; rollups in blocks of buckets per host.
# Rowid tables on purpose: WITHOUT ROWID keeps only ~1 KB of a row on its page and spilled our
# 1-5 KB rows into mostly empty overflow pages (3.7x the data on disk, bench/ingest).
ts_series = sa.Table(
    "ts_series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(128), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    # When the series stopped being in any of its host's layouts (ms); forgotten once every
    # resolution's retention has passed since. Null while it is in one.
    sa.Column("ended_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("host", "key", name="uq_ts_series_host"),
)

ts_schemas = sa.Table(
    "ts_schemas",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(128), nullable=False),
    sa.Column("series_ids", sa.JSON, nullable=False),
)

ts_chunks = sa.Table(
    "ts_chunks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(128), nullable=False),
    sa.Column("start_ts", sa.BigInteger, nullable=False),
    sa.Column("schema_id", sa.Integer, nullable=False),
    sa.Column("end_ts", sa.BigInteger, nullable=False),
    sa.Column("ticks", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    # start_ts // 3,600,000. The indexes lead with it: a compaction's rows (one per host) then
    # land in the current hour's few index pages, not one page per host beside its history.
    sa.Column("hour", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("hour", "host", "start_ts", "schema_id", name="uq_ts_chunks_hour"),
)

ts_rollup_blocks = sa.Table(
    "ts_rollup_blocks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(128), nullable=False),
    sa.Column("resolution", sa.String(4), nullable=False),
    sa.Column("start_ts", sa.BigInteger, nullable=False),  # first bucket in the block
    sa.Column("end_ts", sa.BigInteger, nullable=False),  # last bucket in the block
    sa.Column("samples", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("hour", sa.BigInteger, nullable=False, server_default="0"),  # as in ts_chunks
    sa.Index("ix_ts_rollup_blocks_hour", "resolution", "hour", "host", "start_ts"),
)

# Alerts (alerts/): rules, one row per alert instance (rule x host x series), its transitions.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("metric", sa.String(255), nullable=False),  # series key (`disk[/]`) or family
    sa.Column("comparison", sa.String(2), nullable=False),  # > >= < <=
    sa.Column("warning", sa.Float, nullable=True),
    sa.Column("critical", sa.Float, nullable=True),
    sa.Column("for_seconds", sa.Integer, nullable=False),
    sa.Column("hysteresis", sa.Float, nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),  # all | group | host
    sa.Column("scope_value", sa.String(128), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("builtin", sa.Boolean, nullable=False),  # Tyto's cpu/memory/disk thresholds
    sa.Column("created_at", sa.DateTime, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("rule_id", sa.String(64), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("series", sa.String(255), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),  # warning | critical
    sa.Column("state", sa.String(16), nullable=False),  # pending | firing | resolved
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("fired_at", sa.DateTime, nullable=True),
    sa.Column("resolved_at", sa.DateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(64), nullable=True),
    sa.Column("acknowledged_at", sa.DateTime, nullable=True),
    sa.Column("snoozed_until", sa.DateTime, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_alerts_state", "state"),
    sa.Index("ix_alerts_rule_id", "rule_id", "agent_id", "series"),
)

alert_transitions = sa.Table(
    "alert_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(36), nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("from_state", sa.String(16), nullable=True),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
)

# Notifications (notify/): channels with sealed secrets, and the outbox every message goes
# through, so that nothing accepted is lost and nothing acknowledged is sent twice.
notification_channels = sa.Table(
    "notification_channels",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # webhook
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("min_level", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.String(36), nullable=False),
    sa.Column("dedupe_key", sa.String(128), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.UniqueConstraint("channel_id", "dedupe_key", name="uq_notification_outbox_channel_id"),
    sa.Index("ix_notification_outbox_due", "status", "next_attempt_at"),
)

# Host groups (Otto): bind roles and alert rules to sets of hosts.
host_groups = sa.Table(
    "host_groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

host_group_members = sa.Table(
    "host_group_members",
    metadata,
    sa.Column("group_id", sa.ForeignKey("host_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
)

# Agents (fleet/): hosts that enrolled with an Ed25519 key, and the tokens that let them ask.
enrollment_tokens = sa.Table(
    "enrollment_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("uses_left", sa.Integer, nullable=True),  # None: unlimited
    sa.Column("expires_at", sa.DateTime, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),
    # expected (pre-registered) | pending | approved | rejected | revoked
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=True, unique=True),  # Ed25519, base64
    sa.Column("fingerprint", sa.String(80), nullable=True),  # sha256:<hex>
    sa.Column("architecture", sa.String(32), nullable=False, server_default=""),
    sa.Column("os", sa.String(64), nullable=False, server_default=""),
    sa.Column("version", sa.String(32), nullable=False, server_default=""),
    sa.Column("facts", sa.JSON, nullable=False),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Column("registered_at", sa.DateTime, nullable=False),
    sa.Column("approved_at", sa.DateTime, nullable=True),
    sa.Column("last_seen", sa.DateTime, nullable=True),
    # remote config pushed to the agent: interval, collectors, log_sources, commandsEnabled
    sa.Column("config", sa.JSON, nullable=False),
)

# Otto's registration rules: enrolling hosts that match are approved at once, into groups.
registration_rules = sa.Table(
    "registration_rules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("hostname_pattern", sa.String(255), nullable=True),  # shell glob
    sa.Column("address_range", sa.String(64), nullable=True),  # CIDR
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
