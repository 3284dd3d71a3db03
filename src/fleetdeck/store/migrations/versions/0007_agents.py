"""Agents, the enrolment tokens that let them ask to join, and registration rules.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollment_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("uses_left", sa.Integer, nullable=True),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=True, unique=True),
        sa.Column("fingerprint", sa.String(80), nullable=True),
        sa.Column("architecture", sa.String(32), nullable=False, server_default=""),
        sa.Column("os", sa.String(64), nullable=False, server_default=""),
        sa.Column("version", sa.String(32), nullable=False, server_default=""),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("registered_at", sa.DateTime, nullable=False),
        sa.Column("approved_at", sa.DateTime, nullable=True),
        sa.Column("last_seen", sa.DateTime, nullable=True),
        sa.Column("config", sa.JSON, nullable=False),
    )
    op.create_table(
        "registration_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hostname_pattern", sa.String(255), nullable=True),
        sa.Column("address_range", sa.String(64), nullable=True),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registration_rules")
    op.drop_table("agents")
    op.drop_table("enrollment_tokens")
