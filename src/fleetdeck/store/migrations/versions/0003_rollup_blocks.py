"""Rollups in blocks (ts_rollup_blocks): one row holds many buckets of a host and resolution.

One row per bucket made a week at 5 minutes 2,016 rows to fetch and inflate per host, and every
compaction rewrote the rows of the buckets it touched. Existing rows become one-bucket blocks,
and since 0002 wrote every tier at compaction, the roll-up watermark is set past the newest
1-minute bucket, so nothing already in the 5m and 1h tiers is rolled up again.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from fleetdeck.tsdb import codec

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _old_row(blob: bytes) -> dict[int, codec.Stats]:
    """The 0002 layout: id steps, mins, spreads, excesses and counts, one packed stream."""
    flat = codec.unpack_ints(blob)
    n = len(flat) // 5
    steps, lows, spreads, excesses, counts = (flat[i * n : (i + 1) * n] for i in range(5))
    out: dict[int, codec.Stats] = {}
    series_id = 0
    for step, lo, spread, excess, count in zip(steps, lows, spreads, excesses, counts, strict=True):
        series_id += step
        out[series_id] = (lo, lo + spread, excess + count * lo, count)
    return out


def upgrade() -> None:
    blocks = op.create_table(
        "ts_rollup_blocks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("resolution", sa.String(4), nullable=False),
        sa.Column("start_ts", sa.BigInteger, nullable=False),
        sa.Column("end_ts", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ix_ts_rollup_blocks_span", "ts_rollup_blocks", ["host", "resolution", "start_ts"]
    )
    conn = op.get_bind()
    old = conn.execute(sa.text("SELECT host, resolution, bucket_ts, samples, data FROM ts_rollups"))
    while batch := old.fetchmany(1000):
        rows = []
        for host, resolution, bucket, samples, data in batch:
            block = {sid: {bucket: stats} for sid, stats in _old_row(bytes(data)).items()}
            rows.append(
                {
                    "host": host,
                    "resolution": resolution,
                    "start_ts": bucket,
                    "end_ts": bucket,
                    "samples": samples,
                    "data": codec.encode_block(block),
                }
            )
        conn.execute(blocks.insert(), rows)
    newest = conn.execute(
        sa.text("SELECT max(bucket_ts) FROM ts_rollups WHERE resolution = '1m'")
    ).scalar()
    if newest is not None:
        hour = 3_600_000
        settings = sa.table(
            "settings",
            sa.column("key", sa.String),
            sa.column("value", sa.JSON),
            sa.column("updated_at", sa.DateTime),
        )
        conn.execute(
            settings.insert().values(
                key="tsdb.rolled_until",
                value=(int(newest) // hour + 1) * hour,
                updated_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    op.drop_table("ts_rollups")


def _old_blob(stats: dict[int, codec.Stats]) -> bytes:
    items = sorted(stats.items())
    ids = [sid for sid, _ in items]
    steps = [b - a for a, b in zip([0, *ids], ids, strict=False)]
    lows = [s[0] for _, s in items]
    spreads = [s[1] - s[0] for _, s in items]
    excesses = [s[2] - s[3] * s[0] for _, s in items]
    counts = [s[3] for _, s in items]
    return codec.pack_ints(steps + lows + spreads + excesses + counts)


def downgrade() -> None:
    """Back to one row per bucket, merging buckets that several blocks hold."""
    merged: dict[tuple[str, str, int], dict[int, codec.Stats]] = {}
    conn = op.get_bind()
    for host, resolution, data in conn.execute(
        sa.text("SELECT host, resolution, data FROM ts_rollup_blocks")
    ):
        buckets, series = codec.decode_block(bytes(data))
        for sid, per in codec.block_from_columns(buckets, series).items():
            for bucket, s in per.items():
                row = merged.setdefault((host, resolution, bucket), {})
                old = row.get(sid)
                row[sid] = (
                    s
                    if old is None
                    else (min(old[0], s[0]), max(old[1], s[1]), old[2] + s[2], old[3] + s[3])
                )
    op.drop_table("ts_rollup_blocks")
    op.execute("DELETE FROM settings WHERE key = 'tsdb.rolled_until'")
    table = op.create_table(
        "ts_rollups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("resolution", sa.String(4), nullable=False),
        sa.Column("bucket_ts", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("host", "resolution", "bucket_ts", name="uq_ts_rollups_host"),
    )
    rows = [
        {
            "host": host,
            "resolution": resolution,
            "bucket_ts": bucket,
            "samples": sum(s[3] for s in stats.values()),
            "data": _old_blob(stats),
        }
        for (host, resolution, bucket), stats in merged.items()
    ]
    if rows:
        conn.execute(table.insert(), rows)
