"""Access layer: API tokens, lockouts, TOTP, recovery codes, preferences, host-group roles,
and the signature chain of the audit log.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("roles") as batch:
        batch.add_column(
            sa.Column("host_groups", sa.JSON, nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("prev_signature", sa.String(64), nullable=True))
        batch.add_column(sa.Column("signature", sa.String(64), nullable=True))
        batch.create_index("ix_audit_events_actor", ["actor"])
        batch.create_index("ix_audit_events_action", ["action"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("last_used_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "auth_lockouts",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "user_preferences",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("panel_config", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_preferences")
    op.drop_table("mfa_recovery_codes")
    op.drop_table("auth_lockouts")
    op.drop_table("api_tokens")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_action")
        batch.drop_index("ix_audit_events_actor")
        batch.drop_column("signature")
        batch.drop_column("prev_signature")
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("host_groups")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_enabled")
        batch.drop_column("totp_secret")
