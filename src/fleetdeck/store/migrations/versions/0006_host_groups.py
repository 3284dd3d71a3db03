"""Host groups and their members (agent ids; the server's own host is `local`).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "host_group_members",
        sa.Column(
            "group_id",
            sa.String(64),
            sa.ForeignKey("host_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("agent_id", sa.String(128), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("host_group_members")
    op.drop_table("host_groups")
