"""SQL for the time-series store. Functions take a connection and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetdeck.store.tables import ts_chunks, ts_rollups, ts_schemas, ts_series


async def all_series(conn: AsyncConnection) -> list[tuple[int, str, str]]:
    rows = await conn.execute(sa.select(ts_series.c.id, ts_series.c.host, ts_series.c.key))
    return [(r.id, r.host, r.key) for r in rows]


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


async def add_schema(conn: AsyncConnection, host: str, series_ids: Sequence[int]) -> int:
    result = await conn.execute(
        ts_schemas.insert()
        .values(host=host, series_ids=list(series_ids))
        .returning(ts_schemas.c.id)
    )
    return int(result.scalar_one())


async def insert_chunks(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(ts_chunks.insert(), list(rows))


async def chunks_for(
    conn: AsyncConnection, host: str, start: int, end: int
) -> list[tuple[int, int, bytes]]:
    """(schema_id, start_ts, data) of the host's chunks overlapping [start, end], oldest first."""
    rows = await conn.execute(
        sa.select(ts_chunks.c.schema_id, ts_chunks.c.start_ts, ts_chunks.c.data)
        .where(ts_chunks.c.host == host, ts_chunks.c.start_ts <= end, ts_chunks.c.end_ts >= start)
        .order_by(ts_chunks.c.start_ts)
    )
    return [(r.schema_id, r.start_ts, r.data) for r in rows]


async def put_rollups(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update rollup rows (host, resolution, bucket_ts, samples, data) in place."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(ts_rollups)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(ts_rollups)
    stmt = stmt.on_conflict_do_update(
        index_elements=["host", "resolution", "bucket_ts"],
        set_={"samples": stmt.excluded.samples, "data": stmt.excluded.data},
    )
    await conn.execute(stmt, list(rows))


async def rollups_for(
    conn: AsyncConnection, host: str, resolution: str, start: int, end: int
) -> list[tuple[int, bytes]]:
    rows = await conn.execute(
        sa.select(ts_rollups.c.bucket_ts, ts_rollups.c.data)
        .where(
            ts_rollups.c.host == host,
            ts_rollups.c.resolution == resolution,
            ts_rollups.c.bucket_ts >= start,
            ts_rollups.c.bucket_ts <= end,
        )
        .order_by(ts_rollups.c.bucket_ts)
    )
    return [(r.bucket_ts, r.data) for r in rows]


async def rollups_since(
    conn: AsyncConnection, resolution: str, since: int
) -> list[tuple[str, int, bytes]]:
    rows = await conn.execute(
        sa.select(ts_rollups.c.host, ts_rollups.c.bucket_ts, ts_rollups.c.data).where(
            ts_rollups.c.resolution == resolution, ts_rollups.c.bucket_ts >= since
        )
    )
    return [(r.host, r.bucket_ts, r.data) for r in rows]


async def delete_chunks_before(conn: AsyncConnection, end_before: int) -> int:
    return (await conn.execute(ts_chunks.delete().where(ts_chunks.c.end_ts < end_before))).rowcount


async def delete_rollups_before(conn: AsyncConnection, resolution: str, before: int) -> int:
    result = await conn.execute(
        ts_rollups.delete().where(
            ts_rollups.c.resolution == resolution, ts_rollups.c.bucket_ts < before
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
            ts_rollups.c.resolution,
            sa.func.count(),
            sa.func.sum(ts_rollups.c.samples),
            sa.func.min(ts_rollups.c.bucket_ts),
            sa.func.sum(sa.func.length(ts_rollups.c.data)),
        ).group_by(ts_rollups.c.resolution)
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
