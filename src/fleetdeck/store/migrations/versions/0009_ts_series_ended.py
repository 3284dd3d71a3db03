"""When a series stopped being part of any of its host's layouts (`ended_at`, Unix ms).

Series and layouts (schemas) were kept forever: a Docker host whose containers come and go
under new names added series and a layout of ~100 ids with each, in the database and in the
server's memory. A layout no chunk or buffer holds any more is now forgotten by the retention
job, and a series in no remaining layout is marked ended, then forgotten once every
resolution's retention has passed since.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ts_series", sa.Column("ended_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ts_series") as batch:
        batch.drop_column("ended_at")
