"""The same migrations build the same schema on SQLite and PostgreSQL, up and down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fleetdeck.store import migrate
from fleetdeck.store.engine import sync_url
from fleetdeck.store.tables import metadata


def _schema_diff(url: str) -> list[object]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def _engine_at(db_url: str, revision: str, *inserts: tuple[str, dict[str, object]]) -> sa.Engine:
    """An engine on the database migrated to `revision`, with `inserts` run there."""
    migrate.upgrade(db_url, revision)
    engine = sa.create_engine(sync_url(db_url))
    with engine.begin() as conn:
        for statement, values in inserts:
            conn.execute(sa.text(statement), values)
    return engine


def test_upgrade_reaches_head_and_matches_the_tables_module(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()
    assert _schema_diff(db_url) == []


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current_revision(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()


def test_rollup_rows_of_0002_become_blocks_and_back(db_url: str) -> None:
    from fleetdeck.tsdb import codec

    # 0002's layout: id steps, lows, spreads, excesses, counts; series 4 and 7
    old_row = codec.pack_ints([4, 3, 3, 250, 50, 2, 88, 1, 4, 2])
    insert = (
        "INSERT INTO ts_rollups (host, resolution, bucket_ts, samples, data)"
        " VALUES ('web-1', '1m', 60000, 6, :data)"
    )
    engine = _engine_at(db_url, "0002", (insert, {"data": old_row}))
    try:
        migrate.upgrade(db_url)
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT host, resolution, start_ts, end_ts, samples, data FROM ts_rollup_blocks"
                )
            ).one()
        assert tuple(row[:5]) == ("web-1", "1m", 60000, 60000, 6)
        with engine.connect() as conn:
            mark = conn.execute(
                sa.text("SELECT value FROM settings WHERE key = 'tsdb.rolled_until'")
            ).scalar()
        value = json.loads(mark) if isinstance(mark, str) else mark
        assert value == 3_600_000  # past the newest 1m bucket: already in every tier
        buckets, series = codec.decode_block(bytes(row[5]))
        assert codec.block_from_columns(buckets, series) == {
            4: {60000: (3, 53, 100, 4)},
            7: {60000: (250, 252, 501, 2)},
        }
        migrate.downgrade(db_url, "0002")
        with engine.connect() as conn:
            back = conn.execute(sa.text("SELECT bucket_ts, samples, data FROM ts_rollups")).one()
        assert (back[0], back[1], bytes(back[2])) == (60000, 6, old_row)
    finally:
        engine.dispose()


def test_time_series_rows_of_0007_get_their_hour(db_url: str) -> None:
    chunk = (
        "INSERT INTO ts_chunks (host, start_ts, schema_id, end_ts, ticks, data)"
        " VALUES ('web-1', 7300000, 1, 7305000, 2, :data)"
    )
    block = (
        "INSERT INTO ts_rollup_blocks (host, resolution, start_ts, end_ts, samples, data)"
        " VALUES ('web-1', '5m', 86400000, 90000000, 12, :data)"
    )
    engine = _engine_at(db_url, "0007", (chunk, {"data": b"x"}), (block, {"data": b"y"}))
    try:
        migrate.upgrade(db_url)
        with engine.connect() as conn:
            chunk_hour = conn.execute(sa.text("SELECT hour FROM ts_chunks")).scalar()
            block_hour = conn.execute(sa.text("SELECT hour FROM ts_rollup_blocks")).scalar()
        assert (chunk_hour, block_hour) == (2, 24)
    finally:
        engine.dispose()


def test_the_server_migrates_in_a_child_only_when_behind(db_url: str) -> None:
    assert migrate.HEAD == migrate.head_revision()
    assert migrate.current_revision(db_url) is None
    migrate.upgrade_in_child(db_url)  # a fresh database: the child brings it to HEAD
    assert migrate.current_revision(db_url) == migrate.HEAD
    migrate.ensure_current(db_url)  # current: nothing to do


def test_a_failed_migration_stops_with_the_childs_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'db.sqlite'}"
    with pytest.raises(migrate.MigrationError, match="unable to open database file"):
        migrate.upgrade_in_child(url)
