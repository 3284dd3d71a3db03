"""Time series: series, schemas, compressed chunks and rollups.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ts_series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.UniqueConstraint("host", "key", name="uq_ts_series_host"),
    )
    op.create_table(
        "ts_schemas",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("series_ids", sa.JSON, nullable=False),
    )
    op.create_table(
        "ts_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("start_ts", sa.BigInteger, nullable=False),
        sa.Column("schema_id", sa.Integer, nullable=False),
        sa.Column("end_ts", sa.BigInteger, nullable=False),
        sa.Column("ticks", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("host", "start_ts", "schema_id", name="uq_ts_chunks_host"),
    )
    op.create_table(
        "ts_rollups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("resolution", sa.String(4), nullable=False),
        sa.Column("bucket_ts", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("host", "resolution", "bucket_ts", name="uq_ts_rollups_host"),
    )


def downgrade() -> None:
    op.drop_table("ts_rollups")
    op.drop_table("ts_chunks")
    op.drop_table("ts_schemas")
    op.drop_table("ts_series")
