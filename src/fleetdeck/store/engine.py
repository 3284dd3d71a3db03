"""The database handle: an async engine plus the single-writer discipline SQLite needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from fleetdeck.store import audit

SQLITE_BUSY_TIMEOUT_MS = 5000


SQLITE_PAGE_SIZE = 16384


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Settings every SQLite connection gets, Alembic's included."""
    cur = dbapi_conn.cursor()
    # Only takes effect while the file is empty. Metric chunks are rows of a few KiB: with the
    # default 4 KiB pages most of them spill into overflow pages that are written half empty.
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    # WAL lets readers run beside the one writer; NORMAL sync is durable across process crashes
    # (only an OS crash can lose the last transactions), which is the trade Datasette makes too.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def sync_url(url: str) -> str:
    """The same database for synchronous drivers (Alembic, the CLI)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    return url


class Database:
    """Async engine with `read()` and `write()` transactions.

    On SQLite every write goes through one lock, so writers queue in-process instead of
    fighting over the file lock; PostgreSQL handles concurrent writers itself.
    """

    def __init__(self, url: str, *, audit_key: bytes | None = None) -> None:
        self.url = url
        self.audit_key = audit_key  # signs audit events written in write() (store/audit.py)
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
        self._write_lock = asyncio.Lock()

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self.is_sqlite:
            async with self._write_lock, self.engine.begin() as conn:
                self._give_key(conn)
                yield conn
        else:
            async with self.engine.begin() as conn:
                self._give_key(conn)
                yield conn

    def _give_key(self, conn: AsyncConnection) -> None:
        if self.audit_key is None:
            conn.info.pop(audit.KEY_INFO, None)
        else:
            conn.info[audit.KEY_INFO] = self.audit_key

    async def close(self) -> None:
        await self.engine.dispose()
