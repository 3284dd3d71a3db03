"""SQL for the time-series store. Functions take a connection and never commit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.store.tables import ts_chunks, ts_rollup_blocks, ts_schemas, ts_series
from fleetdeck.tsdb.rollup import DAY, HOUR

# A chunk and an unsealed rollup block lie within one hour; a sealed block within one day.
LONGEST_BLOCK = {"raw": HOUR, "1m": HOUR, "5m": DAY, "1h": DAY}
MAX_HOURS_LISTED = 2_000  # beyond this, a query scans its hours instead of naming each


def hour_of(ts: int) -> int:
    return ts // HOUR


def _hours(column: sa.ColumnElement[int], first: int, last: int) -> sa.ColumnElement[bool]:
    """`column` within the hours of [first, last] (ms). Named one by one, each hour is one
    seek to (hour, host) in the index; a range would read every host's rows in it."""
    lo, hi = hour_of(first), hour_of(last)
    if hi - lo >= MAX_HOURS_LISTED:
        return column.between(lo, hi)
    return column.in_(range(lo, hi + 1))


async def all_series(conn: AsyncConnection) -> list[tuple[int, str, str, int | None]]:
    rows = await conn.execute(
        sa.select(ts_series.c.id, ts_series.c.host, ts_series.c.key, ts_series.c.ended_at)
    )
    return [(r.id, r.host, r.key, r.ended_at) for r in rows]


def _batches(ids: Sequence[int], size: int = 500) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


async def schemas_with_chunks(conn: AsyncConnection) -> set[int]:
    rows = await conn.execute(sa.select(ts_chunks.c.schema_id).distinct())
    return {int(r[0]) for r in rows}


async def delete_schemas(conn: AsyncConnection, ids: Sequence[int]) -> None:
    for batch in _batches(ids):
        await conn.execute(ts_schemas.delete().where(ts_schemas.c.id.in_(batch)))


async def set_series_ended(conn: AsyncConnection, ids: Sequence[int], at: int | None) -> None:
    for batch in _batches(ids):
        await conn.execute(ts_series.update().where(ts_series.c.id.in_(batch)).values(ended_at=at))


async def delete_series(conn: AsyncConnection, ids: Sequence[int]) -> None:
    for batch in _batches(ids):
        await conn.execute(ts_series.delete().where(ts_series.c.id.in_(batch)))


async def add_new_series(
    conn: AsyncConnection, rows: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Insert (host, key) series known not to exist, in one statement; returns their ids.
    Raises IntegrityError if one exists after all (then use add_series)."""
    if not rows:
        return {}
    # executemany with RETURNING ("insertmanyvalues"): one cached statement, batched rows.
    result = await conn.execute(
        ts_series.insert().returning(ts_series.c.id, ts_series.c.host, ts_series.c.key),
        [{"host": h, "key": k} for h, k in rows],
    )
    return {(r.host, r.key): r.id for r in result}


async def add_series(conn: AsyncConnection, host: str, keys: Sequence[str]) -> dict[str, int]:
    """Insert series that do not exist yet; returns key -> id for all of `keys`."""
    existing = await conn.execute(
        sa.select(ts_series.c.key, ts_series.c.id).where(
            ts_series.c.host == host, ts_series.c.key.in_(keys)
        )
    )
    ids = {r.key: r.id for r in existing}
    missing = [k for k in keys if k not in ids]
    if missing:
        await conn.execute(ts_series.insert(), [{"host": host, "key": k} for k in missing])
        rows = await conn.execute(
            sa.select(ts_series.c.key, ts_series.c.id).where(
                ts_series.c.host == host, ts_series.c.key.in_(missing)
            )
        )
        ids.update({r.key: r.id for r in rows})
    return ids


async def all_schemas(conn: AsyncConnection) -> list[tuple[int, str, list[int]]]:
    rows = await conn.execute(sa.select(ts_schemas))
    return [(r.id, r.host, list(r.series_ids)) for r in rows]


async def add_schemas(
    conn: AsyncConnection, layouts: Sequence[tuple[str, Sequence[int]]]
) -> list[int]:
    """Insert (host, series ids) schemas in one executemany; their ids, in the same order."""
    if not layouts:
        return []
    result = await conn.execute(
        ts_schemas.insert().returning(ts_schemas.c.id, sort_by_parameter_order=True),
        [{"host": h, "series_ids": list(ids)} for h, ids in layouts],
    )
    return [int(r.id) for r in result]


async def insert_chunks(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(ts_chunks.insert(), list(rows))


async def chunks_for(
    conn: AsyncConnection, host: str, start: int, end: int
) -> list[tuple[int, int, bytes]]:
    """(schema_id, start_ts, data) of the host's chunks overlapping [start, end], oldest first."""
    rows = await conn.execute(
        sa.select(ts_chunks.c.schema_id, ts_chunks.c.start_ts, ts_chunks.c.data)
        .where(
            _hours(ts_chunks.c.hour, start - LONGEST_BLOCK["raw"] + 1, end),
            ts_chunks.c.host == host,
            ts_chunks.c.start_ts <= end,
            ts_chunks.c.end_ts >= start,
        )
        .order_by(ts_chunks.c.start_ts)
    )
    return [(r.schema_id, r.start_ts, r.data) for r in rows]


async def insert_rollups(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Add rollup blocks (host, resolution, start_ts, end_ts, samples, data); never updates."""
    if rows:
        await conn.execute(ts_rollup_blocks.insert(), list(rows))


async def rollups_for(
    conn: AsyncConnection, host: str, resolution: str, start: int, end: int
) -> list[tuple[int, bytes]]:
    """(id, data) of the host's blocks at `resolution` holding buckets in [start, end]."""
    rows = await conn.execute(
        sa.select(ts_rollup_blocks.c.id, ts_rollup_blocks.c.data)
        .where(
            ts_rollup_blocks.c.resolution == resolution,
            _hours(ts_rollup_blocks.c.hour, start - LONGEST_BLOCK[resolution] + 1, end),
            ts_rollup_blocks.c.host == host,
            ts_rollup_blocks.c.start_ts <= end,
            ts_rollup_blocks.c.end_ts >= start,
        )
        .order_by(ts_rollup_blocks.c.start_ts)
    )
    return [(r.id, r.data) for r in rows]


async def unsealed_periods(
    conn: AsyncConnection, resolution: str, period: int, before: int, limit: int
) -> list[tuple[str, int]]:
    """(host, period start) of periods ending before `before` that hold more than one block
    lying wholly within the period."""
    slot = (ts_rollup_blocks.c.start_ts // period).label("slot")
    rows = await conn.execute(
        sa.select(ts_rollup_blocks.c.host, slot)
        .where(
            ts_rollup_blocks.c.resolution == resolution,
            ts_rollup_blocks.c.end_ts < before,
            ts_rollup_blocks.c.start_ts // period == ts_rollup_blocks.c.end_ts // period,
        )
        .group_by(ts_rollup_blocks.c.host, slot)
        .having(sa.func.count() > 1)
        .limit(limit)
    )
    return [(r.host, int(r.slot) * period) for r in rows]


async def rollups_within(
    conn: AsyncConnection, host: str, resolution: str, start: int, end: int
) -> list[tuple[int, bytes]]:
    """(id, data) of the host's blocks at `resolution` lying wholly within [start, end)."""
    rows = await conn.execute(
        sa.select(ts_rollup_blocks.c.id, ts_rollup_blocks.c.data).where(
            ts_rollup_blocks.c.resolution == resolution,
            _hours(ts_rollup_blocks.c.hour, start, end - 1),
            ts_rollup_blocks.c.host == host,
            ts_rollup_blocks.c.start_ts >= start,
            ts_rollup_blocks.c.end_ts < end,
        )
    )
    return [(r.id, r.data) for r in rows]


async def rollup_hosts(conn: AsyncConnection, resolution: str, start: int, end: int) -> list[str]:
    """Hosts with blocks at `resolution` lying within [start, end)."""
    rows = await conn.execute(
        sa.select(ts_rollup_blocks.c.host)
        .where(
            ts_rollup_blocks.c.resolution == resolution,
            ts_rollup_blocks.c.hour.between(hour_of(start), hour_of(end - 1)),
            ts_rollup_blocks.c.start_ts >= start,
            ts_rollup_blocks.c.end_ts < end,
        )
        .distinct()
    )
    return [r.host for r in rows]


async def replace_rollups(
    conn: AsyncConnection, old_ids: Sequence[int], row: dict[str, Any]
) -> None:
    await conn.execute(ts_rollup_blocks.delete().where(ts_rollup_blocks.c.id.in_(old_ids)))
    await conn.execute(ts_rollup_blocks.insert(), [row])


async def delete_chunks_before(conn: AsyncConnection, end_before: int) -> int:
    old = ts_chunks.delete().where(
        ts_chunks.c.hour <= hour_of(end_before), ts_chunks.c.end_ts < end_before
    )
    return (await conn.execute(old)).rowcount


async def delete_rollups_before(conn: AsyncConnection, resolution: str, before: int) -> int:
    result = await conn.execute(
        ts_rollup_blocks.delete().where(
            ts_rollup_blocks.c.resolution == resolution,
            ts_rollup_blocks.c.hour <= hour_of(before),
            ts_rollup_blocks.c.end_ts < before,
        )
    )
    return result.rowcount


async def counts(conn: AsyncConnection) -> dict[str, Any]:
    chunk_row = (
        await conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(ts_chunks.c.start_ts),
                sa.func.coalesce(sa.func.sum(sa.func.length(ts_chunks.c.data)), 0),
            ).select_from(ts_chunks)
        )
    ).one()
    raw_samples = 0
    widths = {sid: len(ids) for sid, _, ids in await all_schemas(conn)}
    for schema_id, ticks in await conn.execute(
        sa.select(ts_chunks.c.schema_id, sa.func.sum(ts_chunks.c.ticks)).group_by(
            ts_chunks.c.schema_id
        )
    ):
        raw_samples += widths.get(schema_id, 0) * int(ticks)
    rollup_rows = await conn.execute(
        sa.select(
            ts_rollup_blocks.c.resolution,
            sa.func.count(),
            sa.func.sum(ts_rollup_blocks.c.samples),
            sa.func.min(ts_rollup_blocks.c.start_ts),
            sa.func.sum(sa.func.length(ts_rollup_blocks.c.data)),
        ).group_by(ts_rollup_blocks.c.resolution)
    )
    series = (await conn.execute(sa.select(sa.func.count()).select_from(ts_series))).scalar_one()
    return {
        "series": int(series),
        "chunks": int(chunk_row[0]),
        "raw_samples": raw_samples,
        "raw_bytes": int(chunk_row[2]),
        "raw_oldest": chunk_row[1],
        "rollups": {
            r[0]: {"rows": int(r[1]), "samples": int(r[2]), "oldest": r[3], "bytes": int(r[4])}
            for r in rollup_rows
        },
    }


async def database_size(conn: AsyncConnection) -> int:
    """Bytes the database occupies (SQLite: its pages; PostgreSQL: pg_database_size)."""
    if conn.dialect.name == "postgresql":
        query = sa.text("SELECT pg_database_size(current_database())")
        return int((await conn.execute(query)).scalar_one())
    pages = (await conn.execute(sa.text("PRAGMA page_count"))).scalar_one()
    page_size = (await conn.execute(sa.text("PRAGMA page_size"))).scalar_one()
    return int(pages) * int(page_size)
